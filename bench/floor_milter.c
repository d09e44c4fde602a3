/* A libmilter milter in C that decides nothing: the cost floor of any milter on libmilter, which
 * bench/compare.py compiles at run time (cc floor_milter.c -lmilter) and measures beside the
 * pymilter floor (bench/floor_milter.py) and nolink. It negotiates as nolink does: over a unix
 * socket "no reply" for connect, RCPT, each header, DATA and body; over inet every step answers
 * and the listener has TCP_NODELAY (see adapters/service.py); HELO and unknown are skipped. It
 * counts the headers, adds one header at end of message and accepts. Not a test; prints nothing.
 *
 *     ./floor_milter unix:/path/to/socket | inet:PORT@127.0.0.1
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <libmilter/mfapi.h>

static unsigned long nr; /* the "no reply" steps: all of NR over a unix socket, none over inet */
#define NR (SMFIP_NR_CONN | SMFIP_NR_RCPT | SMFIP_NR_HDR | SMFIP_NR_DATA | SMFIP_NR_BODY)

static sfsistat f_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                            unsigned long f3, unsigned long *p0, unsigned long *p1, unsigned long *p2,
                            unsigned long *p3) {
    *p0 = SMFIF_ADDHDRS;
    *p1 = (f1 & nr) | SMFIP_NOHELO | SMFIP_NOUNKNOWN;
    *p2 = *p3 = 0;
    return SMFIS_CONTINUE;
}
#define GO (nr ? SMFIS_NOREPLY : SMFIS_CONTINUE)
static sfsistat f_data(SMFICTX *ctx) { return GO; }
static sfsistat f_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr) { return GO; }
static sfsistat f_rcpt(SMFICTX *ctx, char **argv) { return GO; }
static sfsistat f_body(SMFICTX *ctx, unsigned char *chunk, size_t len) { return GO; }
static sfsistat f_envfrom(SMFICTX *ctx, char **argv) {
    long *n = smfi_getpriv(ctx);
    if (n == NULL && (n = calloc(1, sizeof *n)) != NULL) smfi_setpriv(ctx, n);
    if (n != NULL) *n = 0;
    return SMFIS_CONTINUE;
}
static sfsistat f_header(SMFICTX *ctx, char *name, char *value) {
    long *n = smfi_getpriv(ctx);
    if (n != NULL) ++*n;
    return GO;
}
static sfsistat f_eoh(SMFICTX *ctx) { return SMFIS_CONTINUE; }
static sfsistat f_eom(SMFICTX *ctx) {
    char text[64];
    long *n = smfi_getpriv(ctx);
    snprintf(text, sizeof text, "floor; none headers=%ld", n != NULL ? *n : 0L);
    smfi_addheader(ctx, "Authentication-Results", text);
    return SMFIS_ACCEPT;
}
static sfsistat f_close(SMFICTX *ctx) {
    free(smfi_getpriv(ctx));
    smfi_setpriv(ctx, NULL);
    return SMFIS_CONTINUE;
}

int main(int argc, char **argv) {
    struct smfiDesc desc = {"cfloor", SMFI_VERSION, SMFIF_ADDHDRS, f_connect, NULL, f_envfrom, f_rcpt,
                            f_header, f_eoh, f_body, f_eom, NULL, f_close, NULL, f_data,
                            f_negotiate};
    if (argc != 2 || smfi_setconn(argv[1]) != MI_SUCCESS || smfi_register(desc) != MI_SUCCESS)
        return 2;
    if (smfi_opensocket(1) != MI_SUCCESS) return 1;
    nr = strncmp(argv[1], "inet", 4) == 0 ? 0 : NR;
    for (int fd = 3, one = 1; fd < 64 && !nr; fd++) /* libmilter's listener: accepted ones inherit */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
