"""Drives the gateway with the official `openai` Python SDK (streaming and not).

Usage: python3 openai_sdk_client.py <base_url>   (base_url ends with /v1)
Exits non-zero with a message on any mismatch; prints one JSON line of what it saw.
"""
import json
import sys

try:
    import openai
except ImportError:
    sys.stderr.write("the `openai` Python package is missing: pip install openai\n")
    sys.exit(3)


def main() -> None:
    base_url = sys.argv[1]
    client = openai.OpenAI(base_url=base_url, api_key="sk-local", max_retries=0)

    # Non-streaming, routed, with the gateway's own `route` field and a pass-through field.
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "prove the theorem"}],
        temperature=0.2,
        extra_body={"route": {"objective": "quality"}},
    )
    completion = raw.parse()
    assert completion.model == "big", completion.model
    assert completion.choices[0].message.content == "Hello from big", completion
    assert completion.usage.total_tokens == 16, completion.usage
    decision_id = raw.headers.get("x-arbiter-decision-id")
    assert decision_id, dict(raw.headers)
    assert raw.headers.get("x-arbiter-model") == "big"

    # Streaming with usage.
    parts, models, usage = [], set(), None
    stream = client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "an easy one"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"route": {"objective": "cost"}},
    )
    for chunk in stream:
        models.add(chunk.model)
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                parts.append(choice.delta.content)
    assert "".join(parts) == "Hello from small", parts
    assert models == {"small"}, models
    assert usage is not None and usage.completion_tokens == 4, usage

    # Errors come back as the SDK's typed exceptions.
    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("expected NotFoundError")
    except openai.NotFoundError as e:
        assert e.status_code == 404
        assert "no-such-model" in str(e)

    # The model list.
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "auto" and "big" in ids, ids

    print(json.dumps({"decision_id": decision_id, "streamed": "".join(parts), "models": ids}))


if __name__ == "__main__":
    main()
