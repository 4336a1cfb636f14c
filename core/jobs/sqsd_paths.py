"""Where sqsd POSTs on the worker tier. HttpPath in the worker saved configuration
(.elasticbeanstalk/aula-worker.cfg.yml) and the URLs in cron.yaml must match these; tests read
both files to keep them in step."""

SQSD_PREFIX = "/sqsd"
JOBS_PATH = SQSD_PREFIX + "/jobs"
TASKS_PREFIX = SQSD_PREFIX + "/tasks"
