"""core/aws.py: every app's clients read botocore's models once per process, on sessions of their own."""
from __future__ import annotations

from core.aws import AwsClients
from tests.conftest import make_settings


def test_apps_share_the_models_and_keep_sessions_of_their_own(aws):
    settings = make_settings("web", "sqlite:///unused.sqlite3", aws)
    first, second = AwsClients(settings), AwsClients(settings)
    loader = first.session._session.get_component("data_loader")
    assert second.session._session.get_component("data_loader") is loader
    assert first.session._session is not second.session._session
    paths = list(loader.search_paths)
    AwsClients(settings)
    assert loader.search_paths == paths and len(paths) == len(set(paths))  # the search path does not grow per app
    for clients in (first, second):  # and both talk to the (moto) AWS as before
        assert clients.client("sqs").get_queue_attributes(QueueUrl=aws["SQS_QUEUE_URL"], AttributeNames=["All"])["Attributes"]
        assert clients.session.resource("s3").Bucket(aws["S3_BUCKET"]).creation_date is not None
