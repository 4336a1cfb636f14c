"""sqsd's headers are read strictly: a malformed receive count is not a reason to fail a job."""
from __future__ import annotations

from core.jobs.outbox import envelope_for
from core.jobs.sqsd_paths import JOBS_PATH
from tests.sqsd import sqsd_headers


def test_a_receive_count_of_non_ascii_digits_is_ignored_not_a_500(worker_client, probe, make_job):
    job = make_job()
    headers = {**sqsd_headers(), "X-Aws-Sqsd-Receive-Count": "²", "Content-Type": "application/json"}
    response = worker_client.post(JOBS_PATH, data=envelope_for(job).to_json(), headers=headers)
    assert response.status_code == 200 and response.get_json()["outcome"] == "succeeded"
