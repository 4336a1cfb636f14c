"""A copy of the nginx configuration the Amazon Linux 2023 platform writes, with our files put where
it includes them, so `nginx -t` checks them in the context they really land in.

Modelled on public copies of the platform's /etc/nginx/nginx.conf and its generated
conf.d/elasticbeanstalk/ files (eb-worker-facts.md section 3; "Extending Elastic Beanstalk Linux
platforms"): `.platform/nginx/conf.d/*.conf` is included inside `http {}`, and
`.platform/nginx/conf.d/elasticbeanstalk/*.conf` inside the default `server {}` on port 80, next
to the platform's `location /` proxy (00_application.conf) and the enhanced-health access log.
Paths are made relative to a temporary prefix; `user` is left out (the build machine has no
`nginx` user). `build` is for `nginx -t`, which only reads; `build_serving` makes the same
configuration listen on a loopback port and proxy to a test's own upstream, to run it for real.
"""
from __future__ import annotations

import shutil
from pathlib import Path

NGINX_CONF = """\
worker_processes auto;
error_log logs/error.log;
pid logs/nginx.pid;
worker_rlimit_nofile 200000;

events {
    worker_connections 1024;
}

http {
    server_tokens off;
    include mime.types;
    default_type application/octet-stream;

    log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                    '$status $body_bytes_sent "$http_referer" '
                    '"$http_user_agent" "$http_x_forwarded_for"';
    log_format healthd '$msec"$uri"'
                       '$status"$request_time"$upstream_response_time"'
                       '$http_x_forwarded_for';

    include conf.d/*.conf;

    map $http_upgrade $connection_upgrade {
        default "upgrade";
    }

    server {
        listen 80 default_server;
        access_log logs/access.log main;

        client_header_timeout 60;
        client_body_timeout 60;
        keepalive_timeout 60;
        gzip off;
        gzip_comp_level 4;
        gzip_types text/plain text/css application/json application/javascript application/x-javascript
                   text/xml application/xml application/xml+rss text/javascript;

        # Include the Elastic Beanstalk generated locations
        include conf.d/elasticbeanstalk/*.conf;
    }
}
"""

APPLICATION_CONF = """\
location / {
    proxy_pass          http://127.0.0.1:8000;
    proxy_http_version  1.1;

    proxy_set_header    Connection          $connection_upgrade;
    proxy_set_header    Upgrade             $http_upgrade;
    proxy_set_header    Host                $host;
    proxy_set_header    X-Real-IP           $remote_addr;
    proxy_set_header    X-Forwarded-For     $proxy_add_x_forwarded_for;
}
"""

HEALTHD_CONF = """\
if ($time_iso8601 ~ "^(\\d{4})-(\\d{2})-(\\d{2})T(\\d{2})") {
    set $year $1;
    set $month $2;
    set $day $3;
    set $hour $4;
}
access_log logs/healthd/application.log.$year-$month-$day-$hour healthd;
"""


def build(prefix: Path, platform_dir: Path) -> Path:
    """Write the platform's configuration under `prefix` with `platform_dir` (a `.platform/nginx`)
    copied in as the platform copies it; return the main file."""
    (prefix / "logs/healthd").mkdir(parents=True)
    elasticbeanstalk = prefix / "conf.d/elasticbeanstalk"
    elasticbeanstalk.mkdir(parents=True)
    (prefix / "nginx.conf").write_text(NGINX_CONF)
    (prefix / "mime.types").write_text("types {\n    text/html html;\n    application/json json;\n}\n")
    (elasticbeanstalk / "00_application.conf").write_text(APPLICATION_CONF)
    (elasticbeanstalk / "healthd.conf").write_text(HEALTHD_CONF)
    if (platform_dir / "nginx.conf").exists():
        shutil.copy(platform_dir / "nginx.conf", prefix / "nginx.conf")  # replaces the platform's
    for source in sorted((platform_dir / "conf.d").glob("*.conf")):
        shutil.copy(source, prefix / "conf.d" / source.name)
    for source in sorted((platform_dir / "conf.d/elasticbeanstalk").glob("*.conf")):
        shutil.copy(source, elasticbeanstalk / source.name)
    return prefix / "nginx.conf"


PLATFORM_LISTEN = "listen 80 default_server;"
PLATFORM_UPSTREAM = "http://127.0.0.1:8000"  # gunicorn.conf.py `bind`, in the platform's and our files


def build_serving(prefix: Path, platform_dir: Path, listen: str, upstream_port: int) -> Path:
    """`build`, then listen on `listen` (host:port) instead of port 80, and send every proxied
    request to 127.0.0.1:`upstream_port` instead of gunicorn's port. Each replaced value must be
    found where it is expected, so a changed file cannot quietly keep pointing at port 8000."""
    main = build(prefix, platform_dir)
    text = main.read_text()
    assert text.count(PLATFORM_LISTEN) == 1, "the platform's listen directive is not where it was"
    main.write_text(text.replace(PLATFORM_LISTEN, f"listen {listen} default_server;"))
    for conf in sorted((prefix / "conf.d").rglob("*.conf")):
        text = conf.read_text()
        if "proxy_pass" in text:
            assert PLATFORM_UPSTREAM in text, f"{conf.name}: proxies somewhere else than gunicorn"
            conf.write_text(text.replace(PLATFORM_UPSTREAM, f"http://127.0.0.1:{upstream_port}"))
    return main
