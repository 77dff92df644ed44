"""Memory near misses: the recall after the edit, no legacy store, a win stored unverified, boot
recalls spread out or for the wrong cart, a doctrine canonized from a hunch."""

from __future__ import annotations

from dataset.teacher import Teacher
from dataset.teacher.code import memory_title
from doubles.near_misses.base import near_miss, stable_pick
from evals.episode import call


@near_miss("memory.recalls_before_code_work")
class RecallsAfterTheEdit(Teacher):
    """No recall at boot or before the change; the topic's recall comes after the edit."""

    def boot_recall(self) -> None:
        pass

    def prework_order(self) -> tuple[str, ...]:
        return ("index",)

    def after_changes(self, topic: str) -> None:
        self.one("memory_recall", query=topic)


@near_miss("memory.checks_legacy_store")
class SkipsTheLegacyStore(Teacher):
    """The native store's empty answer is the last word: no legacy-memory_recall."""

    def checks_legacy(self) -> bool:
        return False

    def prework_order(self) -> tuple[str, ...]:
        return ("index", "memory")


@near_miss("memory.stores_after_significant_work")
class StoresBeforeVerifying(Teacher):
    """The win is recorded before the tests ran (and not after)."""

    def record_unverified(self, title: str, win: str, topic: str) -> bool:
        self.store("win", title, win, [topic.split()[0]])
        return True


@near_miss("memory.boot_parallel_recalls")
class SpreadBootRecalls(Teacher):
    """Boot recalls in three turns, or in one turn for the wrong cart."""

    def boot_recall(self) -> None:
        if stable_pick(self.variant, [True, False]):
            for spec in self.boot_recalls():
                self.act(spec)
            return
        wrong = "nova" if self.active != "nova" else "bt7274"
        self.act(call("memory_recall", query="self-model"), call("memory_recall", query=f"cart {wrong}"),
                 call("memory_recall", query="user preferences"))


@near_miss("memory.earned_canonization")
class CanonizesAHunch(Teacher):
    """The doctrine is stored before anything was checked."""

    def canonize_from_hunch(self, doctrine: str) -> bool:
        self.store("doctrine", memory_title(doctrine), doctrine)
        return True
