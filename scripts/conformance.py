#!/usr/bin/env python3
"""Send the same requests to shakedown's mock and to real vLLM; print where they differ.

    scripts/conformance.py --mock URL --vllm URL [--mock-input FILE --vllm-input FILE]

Compares, request by request: status codes, content types, error body shape, the JSON
keys of answers, stream framing (role chunk, finish chunk, usage chunk, `[DONE]`), the
models list, and the names of the `vllm:` metrics. With the `input.jsonl` of a run of the
malformed-input corpus against each (suites/l5/reliability/mock_malformed_input.toml and
vllm_cpu_malformed_input.toml), it also compares the corpus case by case.

Prints a Markdown table of every aspect (`same` or `DIFF`) for docs/mock.md. Loopback
only; standard library only. Exit 0 (it reports; it does not judge).
"""

import argparse
import http.client
import json
import sys
import urllib.parse


def request(base, method, path, body=None, headers=None, raw=None):
    """(status, headers dict lower-cased, body bytes) of one request; the error as status."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    hdrs = {"content-type": "application/json"} if body is not None else {}
    hdrs.update(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    except OSError as e:
        return f"error: {e}", {}, b""
    finally:
        conn.close()


def first_model(base):
    _, _, body = request(base, "GET", "/v1/models")
    try:
        return json.loads(body)["data"][0]["id"]
    except (ValueError, KeyError, IndexError):
        return "unknown"


def keys(v):
    return ",".join(sorted(v)) if isinstance(v, dict) else type(v).__name__


def ctype(h):
    return h.get("content-type", "-").split(";")[0]


def error_shape(body):
    """How an error body looks: `openai` ({error: {message, type, code}}), or its keys."""
    try:
        v = json.loads(body)
    except ValueError:
        return "not JSON: " + body[:40].decode(errors="replace")
    if isinstance(v, dict) and isinstance(v.get("error"), dict):
        e = v["error"]
        shaped = all(k in e for k in ("message", "type", "code"))
        return ("openai" if shaped else "error{" + keys(e) + "}") + f" type={e.get('type')}"
    return "{" + keys(v) + "}"


def stream_frames(body):
    """The framing of an SSE answer: data lines, whether it ends in [DONE], role/finish/usage."""
    text = body.decode(errors="replace")
    events = [e for e in text.replace("\r\n", "\n").split("\n\n") if e.strip()]
    datas = []
    other = set()
    for e in events:
        for line in e.split("\n"):
            field = line.split(":", 1)[0]
            if field == "data":
                datas.append(line[5:].strip())
            else:
                other.add(field)
    chunks = []
    for d in datas:
        if d == "[DONE]":
            continue
        try:
            chunks.append(json.loads(d))
        except ValueError:
            other.add("bad-json")
    out = {
        "ends with [DONE]": bool(datas) and datas[-1] == "[DONE]",
        "other SSE fields": ",".join(sorted(other)) or "none",
        "chunk object": ",".join(sorted({c.get("object", "?") for c in chunks})),
    }
    choice_chunks = [c for c in chunks if c.get("choices")]
    if choice_chunks:
        first = choice_chunks[0]["choices"][0]
        out["first chunk delta"] = keys(first.get("delta", first.get("text", {})))
        finishes = [c["choices"][0].get("finish_reason") for c in choice_chunks]
        out["finish_reason in last choice chunk only"] = finishes[-1] is not None and all(
            f is None for f in finishes[:-1]
        )
    usage = [c for c in chunks if c.get("usage")]
    out["usage chunk (include_usage)"] = (
        "last, choices=[]" if usage and usage[-1] is chunks[-1] and not chunks[-1]["choices"] else
        ("present" if usage else "none")
    )
    return out


def metric_names(body):
    names = set()
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("# TYPE vllm:"):
            names.add(line.split()[2])
    return names


def probes(base, model):
    """aspect -> value, for one server."""
    out = {}
    s, h, b = request(base, "GET", "/health")
    out["GET /health: status"] = s
    out["GET /health: content-type"] = ctype(h)
    out["GET /health: body"] = b[:20].decode(errors="replace") or "(empty)"
    s, h, b = request(base, "GET", "/v1/models")
    out["GET /v1/models: status"] = s
    try:
        v = json.loads(b)
        out["GET /v1/models: keys"] = keys(v)
        out["GET /v1/models: data[0] has id, object, owned_by"] = all(
            k in v["data"][0] for k in ("id", "object", "owned_by")
        )
    except (ValueError, KeyError, IndexError):
        out["GET /v1/models: keys"] = "not JSON"
    s, h, b = request(base, "GET", "/metrics")
    out["GET /metrics: status"] = s
    out["GET /metrics: content-type"] = ctype(h)
    out["_metrics"] = metric_names(b)

    msg = [{"role": "user", "content": "Say hi."}]
    chat = {"model": model, "messages": msg, "max_tokens": 4}
    comp = {"model": model, "prompt": "Say hi.", "max_tokens": 4}
    for name, path, body in [
        ("chat", "/v1/chat/completions", chat),
        ("completions", "/v1/completions", comp),
    ]:
        s, h, b = request(base, "POST", path, body)
        out[f"{name}: status"] = s
        out[f"{name}: content-type"] = ctype(h)
        try:
            v = json.loads(b)
            out[f"{name}: object"] = v.get("object")
            out[f"{name}: usage keys"] = keys(v.get("usage"))
            out[f"{name}: finish_reason"] = v["choices"][0].get("finish_reason")
        except (ValueError, KeyError, IndexError):
            out[f"{name}: object"] = "not JSON"
        streamed = dict(body, stream=True, stream_options={"include_usage": True})
        s, h, b = request(base, "POST", path, streamed)
        out[f"{name} stream: status"] = s
        out[f"{name} stream: content-type"] = ctype(h)
        for k, val in stream_frames(b).items():
            out[f"{name} stream: {k}"] = val

    errors = [
        ("unknown model", "POST", "/v1/chat/completions", dict(chat, model="no-such-model"), None),
        ("no messages", "POST", "/v1/chat/completions", {"model": model}, None),
        ("invalid JSON", "POST", "/v1/chat/completions", None, b"{not json"),
        ("max_tokens 0", "POST", "/v1/chat/completions", dict(chat, max_tokens=0), None),
        ("max_tokens past context", "POST", "/v1/chat/completions", dict(chat, max_tokens=10**6), None),
        ("temperature -1", "POST", "/v1/chat/completions", dict(chat, temperature=-1), None),
        ("GET on a POST route", "GET", "/v1/chat/completions", None, None),
        ("unknown route", "GET", "/v1/nothing", None, None),
    ]
    for name, method, path, body, raw in errors:
        hdrs = {"content-type": "application/json"} if raw is not None else None
        s, h, b = request(base, method, path, body, headers=hdrs, raw=raw)
        out[f"{name}: status"] = s
        out[f"{name}: error body"] = error_shape(b)
    return out


def corpus(path):
    cases = {}
    if path:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    shaped = {True: "openai", False: "other", None: "-"}[r.get("error_shaped")]
                    cases[r["case"]] = f"{r.get('status') or '-'} {r.get('result')} {shaped}"
    return cases


def cell(v):
    return str(v).replace("|", "\\|").replace("\n", " ")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mock", required=True)
    p.add_argument("--vllm", required=True)
    p.add_argument("--mock-input")
    p.add_argument("--vllm-input")
    a = p.parse_args()
    m = probes(a.mock, first_model(a.mock))
    v = probes(a.vllm, first_model(a.vllm))
    mm, vm = m.pop("_metrics"), v.pop("_metrics")
    rows = [(k, m.get(k, "-"), v.get(k, "-")) for k in list(dict.fromkeys(list(m) + list(v)))]
    # The mock exports a few of vLLM's metrics: each must exist in vLLM under that name.
    rows.append(("/metrics: the mock's `vllm:` names, as vLLM has them",
                 ", ".join(sorted(mm)), ", ".join(sorted(mm & vm))))
    rows.append(("/metrics: `vllm:` names in all", len(mm), len(vm)))
    mc, vc = corpus(a.mock_input), corpus(a.vllm_input)
    for case in mc:
        if case in vc:
            rows.append((f"corpus `{case}`: status, result, error body", mc[case], vc[case]))

    diffs = [r for r in rows if str(r[1]) != str(r[2])]
    print(f"{len(rows)} aspects compared, {len(diffs)} differ.\n")
    print("| request: aspect | mock | vLLM 0.32 (CPU) | |")
    print("|---|---|---|---|")
    for k, mv, vv in rows:
        same = "same" if str(mv) == str(vv) else "DIFF"
        if same == "same" and k.startswith("corpus"):
            continue
        print(f"| {cell(k)} | {cell(mv)} | {cell(vv)} | {same} |")
    same_cases = sum(1 for c in mc if c in vc and mc[c] == vc[c])
    if mc and vc:
        print(f"\nCorpus: {same_cases} of {len([c for c in mc if c in vc])} cases answered alike "
              "(status and error shape); only the others are listed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
