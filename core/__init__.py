"""Code shared by the web and worker tiers: settings, database and models, the job
contract and queue client, storage, reports and logging. It never imports `web` or `worker`."""
