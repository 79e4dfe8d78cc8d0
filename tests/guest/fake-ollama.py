#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A stand-in for Ollama's HTTP API, for the guest tests.

Speaks the shapes of Ollama's docs/api.md: GET /api/version, GET /api/ps, GET /api/tags, POST /api/show
and non-streaming POST /api/generate with the statistics (durations in nanoseconds). Binds 127.0.0.1 on
the port given (0: any free one), prints "PORT <n>" on stdout once listening, and serves until killed.

Modes (--mode):
  normal     answers like a healthy Ollama with the model fully in GPU memory
  partial    /api/ps reports size_vram < size (part of the model on the CPU)
  missing    /api/generate answers 404 {"error": "model 'NAME' not found"}
  slow       /api/generate sleeps --delay seconds before answering
  malformed  /api/generate answers with a body that is not valid JSON
  truncated  /api/generate answers with JSON cut short (Content-Length matches the cut body)
  short      /api/generate announces the full Content-Length, sends half, and closes
  hostile    /api/ps names a partly loaded model with escape sequences and invalid UTF-8

The generation statistics are fixed so that the tests know the figures exactly: every call
reports eval_count --eval-count; the first call (the warm-up) an eval_duration of 1 s and a
load_duration of --load-duration ns; later calls take their eval_duration from --eval-durations
in turn.

The prompt is counted as Ollama 0.30.1 and the runners before 0.30 count it: one token per word, a BOS
token first, and without "raw": true a template of TEMPLATE_TOKENS tokens before the words.
prompt_eval_count is every token of the prompt; prompt_eval_duration covers only the tokens not found in
the cache, --prompt-token-ns each: the cache holds the previous prompt while the model is loaded, and
gives its longest common prefix, less the last token, which is always evaluated again (llama.cpp).

/api/tags lists the model with "size" --weights (the model's files); /api/ps gives --size (weights, KV
cache and buffers). With --moe, /api/show says the model is a mixture of 8 experts of which 2 are used per
token (model_info "llama.expert_count", "llama.expert_used_count", as convert_mixtral.go writes them) and,
verbose, lists the tensors of MOE_TENSORS. --omit leaves those statistics out of /api/generate's answers
(Ollama's api.Metrics are "omitempty").
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--mode", default="normal",
                   choices=["normal", "partial", "missing", "slow", "malformed", "truncated", "short", "hostile"])
    p.add_argument("--version", default="0.18.2")
    p.add_argument("--model", default="llama3.2:latest", help="the model that exists and gets loaded")
    p.add_argument("--size", type=int, default=2_048_000_000, help="bytes of the loaded model")
    p.add_argument("--size-vram", type=int, default=None, help="bytes in GPU memory (default: size; partial: half)")
    p.add_argument("--eval-count", type=int, default=128)
    p.add_argument("--eval-durations", default="2000000000,1600000000,1000000000,1600000000,3200000000",
                   help="comma-separated eval_duration values (ns) of the measured calls, used in turn")
    p.add_argument("--weights", type=int, default=2_048_000_000, help="bytes of the model's files (/api/tags)")
    p.add_argument("--moe", action="store_true", help="a mixture of experts (/api/show)")
    p.add_argument("--prompt-token-ns", type=int, default=5_000_000, help="ns to evaluate one prompt token")
    p.add_argument("--omit", default="", help="comma-separated statistics to leave out of /api/generate")
    p.add_argument("--load-duration", type=int, default=2_500_000_000)
    p.add_argument("--delay", type=float, default=5.0, help="seconds to sleep in slow mode")
    return p.parse_args()


TEMPLATE_TOKENS = 12
# name, type, shape: 200,000 bytes of F16 attention, 272,000 bytes of Q8_0 experts (256,000 elements in
# 8,000 blocks of 34 bytes), 6,800 bytes of a shared expert (always read)
MOE_TENSORS = [("blk.0.attn_q.weight", "F16", [100, 1000]),
               ("blk.0.ffn_gate_exps.weight", "Q8_0", [32, 1000, 8]),
               ("blk.0.ffn_gate_shexp.weight", "Q8_0", [32, 200])]

ARGS = parse_args()
STATE = {"calls": 0, "loaded": False, "cached": [], "prompts": []}
LOCK = threading.Lock()


def model_matches(asked):
    if asked == ARGS.model:
        return True
    return ":" not in asked and ARGS.model == asked + ":latest"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-ollama"

    def log_message(self, fmt, *args):  # keep the test output quiet
        pass

    def send_raw(self, status, body, content_length=None, close=False):
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body) if content_length is None else content_length))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if close:
            self.close_connection = True

    def send_json(self, status, obj):
        self.send_raw(status, json.dumps(obj).encode())

    def do_GET(self):
        if self.path == "/api/version":
            self.send_json(200, {"version": ARGS.version})
        elif self.path == "/api/ps":
            self.send_ps()
        elif self.path == "/api/tags":
            self.send_json(200, {"models": [
                {"name": "mistral:latest", "model": "mistral:latest", "size": 4_100_000_000},
                {"name": ARGS.model, "model": ARGS.model, "size": ARGS.weights,
                 "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
                 "modified_at": "2026-11-25T14:00:00.000000000Z",
                 "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B",
                             "quantization_level": "Q4_K_M"}}]})
        else:
            self.send_raw(404, b"404 page not found")

    def send_ps(self):
        with LOCK:
            loaded = STATE["loaded"]
        if not loaded:
            self.send_json(200, {"models": []})
            return
        size_vram = ARGS.size_vram
        if size_vram is None:
            size_vram = ARGS.size // 2 if ARGS.mode in ("partial", "hostile") else ARGS.size
        name = ARGS.model
        model = {
            "name": name,
            "model": name,
            "size": ARGS.size,
            "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M",
            },
            "expires_at": "2026-11-25T15:00:00.000000000Z",
            "size_vram": size_vram,
            "context_length": 4096,
        }
        if ARGS.mode == "hostile":
            # An escape sequence (as JSON \u001b) and a raw invalid UTF-8 byte in the name.
            model["name"] = "evil\u001b[31m\u001b]0;pwned\u0007model"
            body = json.dumps({"models": [model]}).encode().replace(b"model\"", b"model\xff\"", 1)
            self.send_raw(200, body)
            return
        self.send_json(200, {"models": [model]})

    def send_show(self, req):
        if not model_matches(req.get("model", "")):
            self.send_json(404, {"error": f"model '{req.get('model')}' not found"})
            return
        info = {"general.architecture": "llama", "general.parameter_count": 3_212_749_888,
                "llama.context_length": 131072, "llama.block_count": 28}
        if ARGS.moe:
            info.update({"llama.expert_count": 8, "llama.expert_used_count": 2})
        resp = {"license": "", "modelfile": "# Modelfile", "details": {"format": "gguf", "family": "llama"},
                "model_info": info, "capabilities": ["completion"]}
        if req.get("verbose"):
            resp["tensors"] = [{"name": n, "type": t, "shape": sh} for n, t, sh in MOE_TENSORS] if ARGS.moe else \
                [{"name": "blk.0.attn_q.weight", "type": "Q4_K", "shape": [3072, 3072]}]
        self.send_json(200, resp)

    def prompt_tokens(self, req):
        """The prompt as tokens (a word each) and how many of them the cache gives."""
        tokens = ["<bos>"] + ([] if req.get("raw") else [f"<t{i}>" for i in range(TEMPLATE_TOKENS)])
        tokens += req.get("prompt", "").split()
        with LOCK:
            prev = STATE["cached"] if STATE["loaded"] else []
            STATE["cached"] = tokens
            STATE["prompts"].append(req.get("prompt", ""))
        common = 0
        while common < min(len(prev), len(tokens)) and prev[common] == tokens[common]:
            common += 1
        return len(tokens), min(common, len(tokens) - 1)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if self.path not in ("/api/generate", "/api/show"):
            self.send_raw(404, b"404 page not found")
            return
        try:
            req = json.loads(raw)
        except ValueError:
            self.send_json(400, {"error": "invalid JSON"})
            return
        if self.path == "/api/show":
            self.send_show(req)
            return
        asked = req.get("model", "")
        if ARGS.mode == "missing" or not model_matches(asked):
            self.send_json(404, {"error": f"model '{asked}' not found"})
            return
        if req.get("stream", True) is not False:
            self.send_json(400, {"error": "this fake only answers non-streaming requests"})
            return
        opts = req.get("options", {})
        if "seed" not in opts or "num_predict" not in opts or opts.get("temperature") != 0:
            self.send_json(400, {"error": "expected options seed, num_predict and temperature 0"})
            return

        n_prompt, cached = self.prompt_tokens(req)
        with LOCK:
            call = STATE["calls"]
            STATE["calls"] += 1
            STATE["loaded"] = True

        if ARGS.mode == "slow":
            time.sleep(ARGS.delay)

        durations = [int(x) for x in ARGS.eval_durations.split(",")]
        if call == 0:
            eval_duration, load_duration = 1_000_000_000, ARGS.load_duration
        else:
            eval_duration, load_duration = durations[(call - 1) % len(durations)], 50_000_000
        prompt_eval_duration = (n_prompt - cached) * ARGS.prompt_token_ns
        resp = {
            "model": asked,
            "created_at": "2026-11-25T14:00:00.000000000Z",
            "response": "Memory bandwidth bounds decoding. " * 4,
            "done": True,
            "done_reason": "length",
            "context": [1, 2, 3],
            "total_duration": load_duration + prompt_eval_duration + eval_duration,
            "load_duration": load_duration,
            "prompt_eval_count": n_prompt,
            "prompt_eval_duration": prompt_eval_duration,
            "eval_count": ARGS.eval_count,
            "eval_duration": eval_duration,
        }
        for key in filter(None, ARGS.omit.split(",")):
            resp.pop(key, None)
        body = json.dumps(resp).encode()
        if ARGS.mode == "malformed":
            self.send_raw(200, b'{"model": "llama3.2", "done": tru, "eval_count": 128}')
        elif ARGS.mode == "truncated":
            self.send_raw(200, body[: len(body) // 2])
        elif ARGS.mode == "short":
            self.send_raw(200, body[: len(body) // 2], content_length=len(body), close=True)
        else:
            self.send_raw(200, body)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
