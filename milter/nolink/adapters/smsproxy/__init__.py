"""The SMS proxy ([[sms_proxy]]): a gateway's own send interface, with the text checked first.

One module per dialect (kannel, jasmin, jsonapi) reads a send request the way that gateway reads
it and answers a refusal in that gateway's own error form; server.py is the HTTP listener that
checks the text and forwards clean requests unchanged to the upstream.
"""
