"""Which Deployments a Model's events reconcile: learnt from the Deployments' events, not from a
Kopf index (an index holds every handler at start at a cost quadratic in the objects)."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

from modelship.operator import deployment_handlers as handlers
from modelship.operator.deployment.followers import DeploymentFollowers, followed_model
from support.deployments import cluster
from support.handler_memo import Clock, handler_memo


def deployment(name: str, model: str | None, suspend: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"suspend": suspend}
    if model is not None:
        spec["modelRef"] = {"name": model}
    return {"metadata": {"namespace": "ml", "name": name}, "spec": spec}


def test_a_deployment_follows_the_model_its_spec_names() -> None:
    followers = DeploymentFollowers()
    followers.seen(deployment("a", "iris"))
    followers.seen(deployment("b", "iris"))
    followers.seen(deployment("c", "wine"))
    assert followers.of("ml", "iris") == ["a", "b"]
    assert followers.of("ml", "wine") == ["c"]
    assert followers.of("other", "iris") == []


def test_a_new_model_ref_moves_it_and_a_deletion_removes_it() -> None:
    followers = DeploymentFollowers()
    followers.seen(deployment("a", "iris"))
    followers.seen(deployment("a", "wine"))
    assert followers.of("ml", "iris") == []
    assert followers.of("ml", "wine") == ["a"]
    followers.seen(deployment("a", "wine"), deleted=True)
    assert followers.of("ml", "wine") == []
    assert len(followers) == 0


def test_what_a_follower_last_read_of_its_model_is_kept_while_it_follows_that_model() -> None:
    followers = DeploymentFollowers()
    followers.saw("ml", "a", 7)  # not following anything: not kept
    assert followers.needs("ml", "a", 7)
    followers.seen(deployment("a", "iris"))
    followers.saw("ml", "a", 7)
    assert not followers.needs("ml", "a", 7) and followers.needs("ml", "a", 8)
    followers.seen(deployment("a", "iris"))  # another event, the same Model: still known
    assert not followers.needs("ml", "a", 7)
    followers.seen(deployment("a", "wine"))  # another Model: what it read of iris is void
    assert followers.needs("ml", "a", 7)
    followers.saw("ml", "a", 9)
    followers.seen(deployment("a", "wine"), deleted=True)
    assert followers.needs("ml", "a", 9) and followers._saw == {}


def test_a_suspended_deployment_follows_nothing_until_resumed() -> None:
    """It reads nothing of its Model; its resume (an update) reconciles it anyway."""
    followers = DeploymentFollowers()
    followers.seen(deployment("a", "iris"))
    followers.seen(deployment("a", "iris", suspend=True))
    assert followers.of("ml", "iris") == []
    followers.seen(deployment("a", "iris"))
    assert followers.of("ml", "iris") == ["a"]
    assert followed_model(deployment("b", None)) is None
    assert followed_model({"spec": {"modelRef": {"name": "iris"}}}) is None  # no namespace


def test_readers_in_threads_see_a_consistent_table_while_events_arrive() -> None:
    followers = DeploymentFollowers()
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                names = followers.of("ml", "iris")
                assert names == sorted(set(names))
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    for index in range(20_000):
        followers.seen(deployment(f"d{index % 500}", "iris" if index % 3 else "wine"))
    done.set()
    reader.join()
    assert errors == []
    gc.collect()
    assert len(followers) == 500


def test_the_deployments_watch_keeps_the_table_and_a_model_event_reads_it() -> None:
    """deployment_seen records; model_event reconciles exactly the followers."""
    kube = cluster()
    memo = handler_memo(kube, Clock())
    body = kube.get(handlers.MODEL_DEPLOYMENTS, "ml", "iris")
    asyncio.run(handlers.deployment_seen(body=body, memo=memo, type="ADDED"))
    assert memo.deployment_followers.of("ml", "iris") == ["iris"]
    asyncio.run(handlers.deployment_seen(body=body, memo=memo, type="DELETED"))
    assert memo.deployment_followers.of("ml", "iris") == []
