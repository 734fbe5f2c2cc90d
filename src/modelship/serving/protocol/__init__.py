"""The Open Inference Protocol gRPC messages and service, generated from inference.proto."""
