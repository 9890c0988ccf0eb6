import time

from celery import shared_task

from realtime import report_progress


@shared_task(bind=True)
def build_report(self, connection_id: str, steps: int = 8) -> str:
    """A slow job that reports its progress to the page that started it (client method ``TaskProgress``)."""
    for step in range(1, steps + 1):
        time.sleep(0.25)
        percent = step * 100 / steps
        message = "report ready" if step == steps else f"step {step} of {steps}"
        report_progress("project.hubs.ChatHub", self, percent, connection_id=connection_id, message=message)
    return "report ready"
