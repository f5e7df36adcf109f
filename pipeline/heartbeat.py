"""Each worker's heartbeat: which messages it holds, and giving back those of dead workers.

A consumer bootstep (added to the Celery app when Django's apps are ready) starts one thread in
the worker's main process. Every WORKER_HEARTBEAT_EVERY it writes the delivery tags this
worker's channel holds (kombu's QoS: delivered, not yet acknowledged — running, reserved, or
waiting for a countdown) and gives back to their queues the messages no live worker holds
(pipeline.broker). The thread outlives the consumer's restarts (a broker reconnection makes a
new channel, which the step hands over) and stops only when the worker has finished its tasks
(worker_shutdown), so a warm shutdown's last lookup stays covered until it is acknowledged.
"""

import logging
import threading

from celery import bootsteps
from celery.signals import worker_shutdown
from django.conf import settings

from . import broker

logger = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, hostname: str):
        self.hostname = hostname
        self.channel = None  # the consumer's current kombu channel
        self.queues: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="pipeline-heartbeat", daemon=True)

    def held_tags(self) -> list[str]:
        channel = self.channel
        if channel is None:
            return []
        qos = channel.qos
        for _ in range(5):  # the event loop may add or ack one while we copy
            try:
                return [tag for tag in list(qos._delivered) if tag not in qos._dirty]
            except RuntimeError:
                continue
        return []

    def beat(self) -> None:
        broker.record_heartbeat(self.hostname, self.held_tags(), self.queues)
        if self.channel is not None:
            broker.reclaim_orphans(self.channel)

    def _loop(self) -> None:
        while not self.stopped.is_set():
            try:
                self.beat()
            except Exception:  # Redis away for a moment: the next beat tries again
                logger.warning("worker heartbeat failed", exc_info=True)
            self.stopped.wait(settings.WORKER_HEARTBEAT_EVERY)

    def stop(self) -> None:
        self.stopped.set()
        try:
            broker.forget_heartbeat(self.hostname)
        except Exception:
            logger.warning("could not remove the worker heartbeat", exc_info=True)


_heartbeat: Heartbeat | None = None


class HeartbeatStep(bootsteps.StartStopStep):
    """Hands the consumer's channel to the heartbeat thread (started on the first start)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, c):
        global _heartbeat
        first = _heartbeat is None
        if first:
            _heartbeat = Heartbeat(c.hostname)
        _heartbeat.channel = c.task_consumer.channel
        _heartbeat.queues = [q.name for q in c.task_consumer.queues]
        if first:
            _heartbeat.thread.start()


@worker_shutdown.connect
def stop_heartbeat(**kwargs):
    # Sent after the pool finished its tasks: nothing is held any more.
    if _heartbeat is not None:
        _heartbeat.stop()


def install(app) -> None:
    app.steps["consumer"].add(HeartbeatStep)
