"""The checked-in gRPC protocol modules agree with inference.proto in what matters: the messages,
the service, the typing stubs, and the runtime floors in pyproject.toml.

What is compared is meaning, not text: the file descriptor protoc builds from the proto against the
one serialized in `inference_pb2.py`, every RPC of the service against what the stub and the
servicer registration in `inference_pb2_grpc.py` wire up, and the classes and fields of the typing
stubs. A generator release that only changes its version string or layout does not fail this; a
proto changed without `make proto` does. The modules are read as source (AST), never imported:
Triton's client, used by other tests in the same worker, registers its own messages in the same
`inference` package of the default descriptor pool.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "src" / "modelship" / "serving" / "protocol"
PROTO_PATH = "modelship/serving/protocol/inference.proto"


@dataclass(frozen=True)
class Rpc:
    """One method as the wire sees it: path, kind and the message types on either side."""

    path: str
    kind: str
    request: str
    response: str


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the locked generator (`make proto`) writes, with a descriptor set beside it."""
    out = tmp_path_factory.mktemp("protoc")
    target = out / "modelship" / "serving" / "protocol"
    target.mkdir(parents=True)
    (target / "inference.proto").write_bytes((PROTOCOL / "inference.proto").read_bytes())
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I.", "--python_out=.", "--pyi_out=.",
         "--grpc_python_out=.", "--descriptor_set_out=descriptor.pb", PROTO_PATH],
        cwd=out, check=True,
    )  # fmt: skip
    return out


def _default_json_name(field: str) -> str:
    """protoc's own json_name of a field: underscores dropped, the next letter upper-cased."""
    head, *rest = field.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _drop_default_json_names(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
    for message in messages:
        for field in message.field:
            if field.json_name == _default_json_name(field.name):
                field.ClearField("json_name")
        _drop_default_json_names(message.nested_type)


def proto_file(generated: Path) -> descriptor_pb2.FileDescriptorProto:
    """The proto's descriptor as protoc builds it, less the json names that only repeat the
    default (a descriptor set spells them out, generated modules leave them implied)."""
    files = descriptor_pb2.FileDescriptorSet.FromString((generated / "descriptor.pb").read_bytes())
    (file,) = files.file
    _drop_default_json_names(file.message_type)
    return file


def serialized_descriptor(module: Path) -> descriptor_pb2.FileDescriptorProto:
    """The FileDescriptorProto a `_pb2.py` module registers (its AddSerializedFile argument)."""
    for node in ast.walk(ast.parse(module.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "AddSerializedFile"
        ):
            return descriptor_pb2.FileDescriptorProto.FromString(ast.literal_eval(node.args[0]))
    raise AssertionError(f"{module.name} registers no serialized file descriptor")


def service_rpcs(file: descriptor_pb2.FileDescriptorProto) -> set[Rpc]:
    kinds = {(False, False): "unary_unary", (False, True): "unary_stream",
             (True, False): "stream_unary", (True, True): "stream_stream"}  # fmt: skip
    return {
        Rpc(
            path=f"/{file.package}.{service.name}/{method.name}",
            kind=kinds[(method.client_streaming, method.server_streaming)],
            request=method.input_type.rsplit(".", 1)[-1],
            response=method.output_type.rsplit(".", 1)[-1],
        )
        for service in file.service
        for method in service.method
    }


def _message_name(node: ast.expr) -> str:
    """`inference__pb2.ModelInferRequest.FromString` -> `ModelInferRequest`."""
    assert isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
    return node.value.attr


def stub_rpcs(module: Path) -> set[Rpc]:
    """The methods `GRPCInferenceServiceStub.__init__` opens on its channel."""
    rpcs = set()
    tree = ast.parse(module.read_text())
    stub = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.endswith("Stub"))
    for node in ast.walk(stub):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if isinstance(node.func.value, ast.Name) and node.func.value.id == "channel":
            keywords = {k.arg: k.value for k in node.keywords}
            path = node.args[0]
            assert isinstance(path, ast.Constant)
            rpcs.add(Rpc(path.value, node.func.attr,
                         _message_name(keywords["request_serializer"]),
                         _message_name(keywords["response_deserializer"])))  # fmt: skip
    return rpcs


def servicer_rpcs(module: Path, package_service: str) -> set[Rpc]:
    """The handlers `add_*Servicer_to_server` registers for the service."""
    rpcs = set()
    tree = ast.parse(module.read_text())
    adder = next(
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("add_")
    )
    handlers = next(n for n in ast.walk(adder) if isinstance(n, ast.Dict))
    for key, value in zip(handlers.keys, handlers.values, strict=True):
        assert isinstance(key, ast.Constant) and isinstance(value, ast.Call)
        assert isinstance(value.func, ast.Attribute)
        keywords = {k.arg: k.value for k in value.keywords}
        kind = value.func.attr.removesuffix("_rpc_method_handler")
        rpcs.add(Rpc(f"/{package_service}/{key.value}", kind,
                     _message_name(keywords["request_deserializer"]),
                     _message_name(keywords["response_serializer"])))  # fmt: skip
    return rpcs


def stub_shapes(module: Path) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Every class of a `.pyi` (nested ones by dotted name) -> (its slots, its __init__ params)."""
    shapes: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if not isinstance(node, ast.ClassDef):
                continue
            name = prefix + node.name
            slots: tuple[str, ...] = ()
            params: tuple[str, ...] = ()
            for item in node.body:
                if isinstance(item, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "__slots__" for t in item.targets
                ):
                    slots = tuple(ast.literal_eval(item.value))
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    params = tuple(a.arg for a in item.args.args + item.args.kwonlyargs)
            shapes[name] = (slots, params)
            visit(node.body, name + ".")

    visit(ast.parse(module.read_text()).body, "")
    return shapes


def test_messages_are_the_protos(generated: Path) -> None:
    assert serialized_descriptor(PROTOCOL / "inference_pb2.py") == proto_file(generated)


def test_stub_and_servicer_wire_every_rpc_of_the_proto(generated: Path) -> None:
    expected = service_rpcs(proto_file(generated))
    assert expected, "the proto declares no RPC"
    (service,) = {rpc.path.rsplit("/", 1)[0].lstrip("/") for rpc in expected}
    assert stub_rpcs(PROTOCOL / "inference_pb2_grpc.py") == expected
    assert servicer_rpcs(PROTOCOL / "inference_pb2_grpc.py", service) == expected


def test_typing_stubs_have_the_protos_classes_and_fields(generated: Path) -> None:
    target = generated / "modelship" / "serving" / "protocol"
    checked_in = stub_shapes(PROTOCOL / "inference_pb2.pyi")
    assert "ModelInferRequest.InferInputTensor" in checked_in
    assert checked_in == stub_shapes(target / "inference_pb2.pyi")


def _floor(requirement_name: str) -> Version:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for line in pyproject["project"]["dependencies"]:
        requirement = Requirement(line)
        if requirement.name == requirement_name:
            floors = [
                Version(s.version) for s in requirement.specifier if s.operator in {">=", "~="}
            ]
            assert floors, f"{line!r} has no lower bound"
            return max(floors)
    raise AssertionError(f"pyproject.toml does not depend on {requirement_name}")


def _module_constant(module: Path, name: str) -> ast.expr:
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return node.value
    raise AssertionError(f"{module.name} has no {name}")


def _protobuf_gencode_version(module: Path) -> Version:
    for node in ast.walk(ast.parse(module.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "ValidateProtobufRuntimeVersion"
        ):
            major, minor, patch = (ast.literal_eval(arg) for arg in node.args[1:4])
            return Version(f"{major}.{minor}.{patch}")
    raise AssertionError(f"{module.name} does not check its protobuf runtime")


def test_pyproject_floors_admit_only_runtimes_the_modules_import_under() -> None:
    """Each module refuses an older runtime than its generator: the ranges must not allow one."""
    grpc_generated = ast.literal_eval(
        _module_constant(PROTOCOL / "inference_pb2_grpc.py", "GRPC_GENERATED_VERSION")
    )
    assert _floor("grpcio") >= Version(grpc_generated)
    assert _floor("protobuf") >= _protobuf_gencode_version(PROTOCOL / "inference_pb2.py")
