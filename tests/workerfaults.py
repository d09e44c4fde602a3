"""Deciders that misbehave on purpose, run inside real worker processes (imported there by name).

A message with the header X-Fault: spin loops on the CPU forever, segv dereferences NULL through
ctypes (a real SIGSEGV), eat allocates until the address space runs out, exit leaves; any other
message is decided normally; keep holds on to 120 MB (resident) and then decides normally."""

from __future__ import annotations

import ctypes
import os

from nolink.adapters.workers import Decider, Job, Outcome

_KEPT: list[bytes] = []  # what "keep" holds on to: the heap a worker keeps after OCR or PDF work


class FaultyDecider(Decider):
    def __call__(self, job: Job) -> Outcome:
        fault = job.data.split(b"X-Fault: ", 1)[1].split(b"\r\n", 1)[0] if b"X-Fault: " in job.data else b""
        if fault == b"spin":
            n = 0
            while True:  # CPU-bound: no thread could stop this, only a kill
                n += 1
        if fault == b"segv":
            ctypes.string_at(0)
        if fault == b"eat":
            hoard = []
            while True:
                hoard.append(bytearray(16 * 1024 * 1024))
        if fault == b"keep":
            _KEPT.append(b"k" * (120 * 1024 * 1024))  # written, so resident
        if fault == b"pid":
            raise RuntimeError(f"pid {os.getpid()}")
        return super().__call__(job)
