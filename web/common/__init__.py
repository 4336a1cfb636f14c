"""What the pages and the API share: the queries that scope and page every list (access,
pagination), the JSON shapes (serializers), one date format (dates), and the actions both
offer (asking for a report, cancelling a job, publishing an activity, seeding an institution).
An action adds to the caller's session and never commits: the endpoint or page commits its
unit of work with core.jobs.outbox.commit_and_send, then translates the outcome to JSON or HTML."""
