import gc
import threading
import time

from modelship.operator.kube.locks import KeyedLocks


def test_a_key_has_one_lock_while_it_is_held():
    locks = KeyedLocks()
    with locks[("model", "ml", "iris")] as held:
        assert held is None or held is True
        assert locks[("model", "ml", "iris")].locked()
        assert not locks[("model", "ml", "other")].locked()


def test_a_lock_nobody_holds_is_dropped():
    locks = KeyedLocks()
    for index in range(1000):
        with locks[("deployment", "ml", f"d{index}")]:
            pass
    gc.collect()
    assert len(locks) == 0


def test_reconciles_of_one_key_never_interleave():
    locks = KeyedLocks()
    inside, overlaps = [0], []

    def reconcile() -> None:
        for _ in range(200):
            with locks[("model", "ml", "iris")]:
                inside[0] += 1
                if inside[0] != 1:
                    overlaps.append(inside[0])
                time.sleep(0)
                inside[0] -= 1

    threads = [threading.Thread(target=reconcile) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    gc.collect()
    assert len(locks) == 0


def test_a_waiter_keeps_the_lock_alive_for_the_holder_s_key():
    locks = KeyedLocks()
    first = locks[("model", "ml", "iris")]
    first.acquire()
    got: list[bool] = []
    waiter = threading.Thread(
        target=lambda: got.append(locks[("model", "ml", "iris")].acquire(timeout=0.2))
    )
    waiter.start()
    waiter.join()
    assert got == [False]  # the same lock, still held: the waiter could not take it
    first.release()
