"""The gRPC transport's own cost: server CPU per unary call with a handler that returns constant
bytes, for grpcio's asyncio server, grpcio's thread-pool server and ours (serving/h2).

    .venv/bin/python bench/grpc_transport_floor.py [--calls 20000] [--rounds 3]

No protobuf is parsed on the server and the model is never called: what is left is what the
transport costs per call, the floor under every gRPC figure of bench/serving.py. Each server
runs in its own process pinned to CPU 0, the client on CPU 1; the client is grpcio's (4 threads
of blocking calls, raw bytes) and NVIDIA Triton's `tritonclient.grpc` (4 threads of `infer`),
whose requests carry more metadata. Server CPU is read from /proc before and after; the median
over rounds is printed with the spread. Figures are for the notes, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path

METHOD = "/inference.GRPCInferenceService/ModelInfer"
SERVERS = ("grpcio-aio", "grpcio-sync", "ours")
SERVER_CPU, CLIENT_CPU = 0, 1


def constant_reply() -> bytes:
    """A valid ModelInferResponse, so Triton's client accepts it."""
    from modelship.serving.protocol import inference_pb2 as pb

    reply = pb.ModelInferResponse(model_name="floor", id="1")
    output = reply.outputs.add(name="y", datatype="INT64", shape=[1])
    reply.raw_output_contents.append((7).to_bytes(8, "little"))
    del output
    return bytes(reply.SerializeToString())


def serve(kind: str, port: int) -> None:
    """Run one server until killed, printing `ready` once it listens."""
    os.sched_setaffinity(0, {SERVER_CPU})
    reply = constant_reply()
    if kind == "ours":
        import uvloop

        from modelship.serving.h2 import grpc_wire
        from modelship.serving.h2.connection import GrpcConnection

        async def handler(message: bytes, headers: object) -> grpc_wire.Reply:
            return grpc_wire.ok(reply)

        async def run_ours() -> None:
            loop = asyncio.get_running_loop()
            methods = {METHOD.encode(): handler}
            server = await loop.create_server(
                lambda: GrpcConnection(methods, 4 << 20), "127.0.0.1", port
            )
            print("ready", flush=True)
            await server.serve_forever()

        uvloop.run(run_ours())
        return

    import grpc

    def identity(data: bytes) -> bytes:
        return data

    if kind == "grpcio-sync":

        def sync_handler(request: bytes, context: object) -> bytes:
            return reply

        handler_sync = grpc.unary_unary_rpc_method_handler(
            sync_handler, request_deserializer=identity, response_serializer=identity
        )
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "inference.GRPCInferenceService", {"ModelInfer": handler_sync}
                ),
            )
        )
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        print("ready", flush=True)
        server.wait_for_termination()
        return

    async def aio_handler(request: bytes, context: object) -> bytes:
        return reply

    async def run_aio() -> None:
        handler_aio = grpc.unary_unary_rpc_method_handler(
            aio_handler, request_deserializer=identity, response_serializer=identity
        )
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "inference.GRPCInferenceService", {"ModelInfer": handler_aio}
                ),
            )
        )
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        print("ready", flush=True)
        await server.wait_for_termination()

    asyncio.run(run_aio())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def grpcio_caller(port: int) -> Callable[[], None]:
    import grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    call = channel.unary_unary(
        METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    request = b"x" * 100
    return lambda: call(request)


def triton_caller(port: int) -> Callable[[], None]:
    import numpy as np
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(f"127.0.0.1:{port}")
    tensor = triton.InferInput("x", [1, 4], "FP32")
    tensor.set_data_from_numpy(np.ones((1, 4), dtype=np.float32))
    return lambda: client.infer("floor", [tensor]) and None


def measure(
    pid: int, call: Callable[[], None], calls: int, threads: int = 4
) -> tuple[float, float]:
    """(server CPU-µs per call, calls per second) for `calls` calls over `threads` threads."""
    for _ in range(300):
        call()
    before, started = cpu_seconds(pid), time.perf_counter()

    def run(n: int) -> None:
        for _ in range(n):
            call()

    with futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, [calls // threads] * threads))
    elapsed = time.perf_counter() - started
    return (cpu_seconds(pid) - before) / calls * 1e6, calls / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=50561)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    os.sched_setaffinity(0, {CLIENT_CPU})
    clients = {"grpcio client": grpcio_caller, "Triton client": triton_caller}
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for kind in SERVERS:  # interleaved rounds: a burst of load elsewhere hits all alike
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve", kind, "--port", str(args.port)],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert server.stdout is not None and server.stdout.readline().strip() == "ready"
                for client, make in clients.items():
                    cpu, _rate = measure(server.pid, make(args.port), args.calls)
                    results.setdefault((kind, client), []).append(cpu)
            finally:
                server.kill()
                server.wait()
    print(f"server CPU-µs per unary call, constant handler (median of {args.rounds}, spread)")
    print(f"{'server':<14}" + "".join(f"{client:>22}" for client in clients))
    for kind in SERVERS:
        cells = []
        for client in clients:
            values = results[(kind, client)]
            spread = max(values) - min(values)
            cells.append(f"{statistics.median(values):>14.0f} ± {spread:>4.0f}")
        print(f"{kind:<14}" + "".join(f"{cell:>22}" for cell in cells))
    print(f"load average: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
