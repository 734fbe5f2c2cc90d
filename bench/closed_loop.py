"""One closed-loop client for REST or gRPC, so the two protocols are compared through the same
asyncio loop: `closed_loop.py rest|grpc|triton TARGET MODEL SECONDS` prints req/s, p50, p99 (and
every request sent, warm-up included, for the CPU-per-request figure of the caller).

REST goes over 32 keep-alive HTTP/1.1 connections; gRPC through grpc.aio with the server's own
protocol modules (one HTTP/2 channel, calls multiplexed); `triton` through NVIDIA Triton's own
`tritonclient.grpc.aio` client, unchanged (raw input contents, as Triton users send them).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable

import numpy as np

IN_FLIGHT = 32
ROW = np.array([[5.9, 3.0, 5.1, 1.8]])


async def measure(call: Callable[[], Awaitable[None]], seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(IN_FLIGHT)))
    elapsed = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "requests": len(latencies),
    }


async def rest(base: str, model: str, seconds: float) -> dict[str, float]:
    """HTTP/1.1 keep-alive over raw asyncio streams: a client as thin as the gRPC one (httpx's
    own overhead, not the server, limited an httpx client to a tenth of the server's rate)."""
    body = json.dumps({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64",
                                   "data": ROW.ravel().tolist()}]}).encode()  # fmt: skip
    host, port = base.removeprefix("http://").split(":")
    request = (
        f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    connections = [await asyncio.open_connection(host, int(port)) for _ in range(IN_FLIGHT)]
    free = asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]()
    for connection in connections:
        free.put_nowait(connection)

    async def call() -> None:
        reader, writer = await free.get()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode())
        length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
        free.put_nowait((reader, writer))

    try:
        return await measure(call, seconds)
    finally:
        for _, writer in connections:
            writer.close()


async def grpc(target: str, model: str, seconds: float) -> dict[str, float]:
    # Imported here: Triton's client registers the same proto package, and one process can
    # hold only one of the two.
    from grpc import aio

    from modelship.serving.protocol import inference_pb2 as pb
    from modelship.serving.protocol import inference_pb2_grpc as pb_grpc

    request = pb.ModelInferRequest(model_name=model)
    request.inputs.add(name="input", datatype="FP64", shape=[1, 4])
    request.raw_input_contents.append(ROW.astype("<f8").tobytes())
    async with aio.insecure_channel(target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)

        async def call() -> None:
            await stub.ModelInfer(request)

        return await measure(call, seconds)


async def triton(target: str, model: str, seconds: float) -> dict[str, float]:
    import tritonclient.grpc.aio as triton_grpc
    from tritonclient.grpc import InferInput

    tensor = InferInput("input", [1, 4], "FP64")
    tensor.set_data_from_numpy(ROW)
    client = triton_grpc.InferenceServerClient(target)
    try:

        async def call() -> None:
            await client.infer(model, [tensor])

        return await measure(call, seconds)
    finally:
        await client.close()


def main() -> None:
    protocol, target, model, seconds = sys.argv[1:5]
    run = {"rest": rest, "grpc": grpc, "triton": triton}[protocol]
    warm_up = asyncio.run(run(target, model, 1.0))
    figures = asyncio.run(run(target, model, float(seconds)))
    figures["all_requests"] = figures["requests"] + warm_up["requests"]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
