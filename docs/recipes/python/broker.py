#!/usr/bin/env python3
"""Open a remote.it connection through the broker, read it, and stop it: the broker API from Python.

Every request is signed with AWS SigV4 for the service `execute-api` (botocore's SigV4Auth), with the
credentials of botocore's default chain (environment, shared config and profiles, SSO, container and
instance roles). The open carries an Idempotency-Key, so repeating it is safe: an answer with Retry-After
(503 while remote.it is unreachable or throttling, 409 while the same key is still in flight) is retried
after that many seconds, a bounded number of times. A 429 quota_exceeded carries no Retry-After and is
not retried: stop a connection first. A 429 open_rate_exceeded (the policy's opensPerMinute reached) carries
one, the seconds until the next minute, and is retried like the others.

    BROKER_API_URL=https://abcdef1234.execute-api.eu-west-1.amazonaws.com \\
      python3 broker.py 80:00:00:00:01:02:03:04 --ttl 900

The region is read from an execute-api URL; for a custom domain or the local stack, set --region (or
BROKER_REGION). Prints the opened, the read and the stopped connection as one JSON line each on stdout;
progress goes to stderr. Exits 0 once stopped, 1 with the problem's type and detail when the broker says
no, 2 on bad arguments.

Needs Python 3.8+, botocore and requests (Debian: apt-get install python3-botocore python3-requests).
"""

import argparse
import email.utils
import json
import os
import re
import sys
import time
import uuid
from urllib.parse import urlparse

import botocore.session
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

SERVICE = "execute-api"
EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
# The API answers within API Gateway's 30 s integration timeout; a little more for the network.
TIMEOUT = (5, 35)
# The longest single wait a Retry-After may ask for before this script gives up instead: a minute, the
# longest an open_rate_exceeded asks for.
MAX_WAIT_SECONDS = 60


class BrokerError(Exception):
    """The broker answered with a problem (RFC 9457), or could not be reached."""

    def __init__(self, status, problem):
        self.status = status
        self.problem = problem
        super().__init__(f"{status} {problem.get('type', '')}: {problem.get('detail') or problem.get('message') or problem.get('title', '')}")


def region_of(api_url):
    """The region of an execute-api URL (https://{apiId}.execute-api.{region}.amazonaws.com), else None."""
    match = EXECUTE_API_HOST.match(urlparse(api_url).hostname or "")
    return match.group(1) if match else None


def retry_after_seconds(value):
    """Retry-After as seconds: an integer, or an HTTP date (RFC 9110)."""
    if value is None:
        return None
    if value.strip().isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, int(when.timestamp() - time.time()) + 1)


class Broker:
    def __init__(self, api_url, region, session=None):
        self.api_url = api_url.rstrip("/")
        self.region = region
        self.credentials = botocore.session.get_session().get_credentials()
        if self.credentials is None:
            raise SystemExit("broker.py: no AWS credentials found (botocore's default chain: AWS_ACCESS_KEY_ID, AWS_PROFILE, ...)")
        self.http = session or requests.Session()

    def request(self, method, path, body=None, headers=None):
        """One signed request; returns (status, headers, parsed body)."""
        data = None if body is None else json.dumps(body)
        all_headers = dict(headers or {})
        if data is not None:
            all_headers["content-type"] = "application/json"
        signed = AWSRequest(method=method, url=self.api_url + path, data=data, headers=all_headers)
        # Frozen per request: refreshable credentials (SSO, roles) may change between calls.
        SigV4Auth(self.credentials.get_frozen_credentials(), SERVICE, self.region).add_auth(signed)
        prepared = signed.prepare()
        response = self.http.request(method, prepared.url, headers=dict(prepared.headers), data=prepared.body, timeout=TIMEOUT)
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            parsed = {"detail": response.text[:200]}
        return response.status_code, response.headers, parsed

    def call(self, method, path, body=None, headers=None, attempts=4):
        """`request`, repeating what the broker says to repeat (Retry-After) or a lost answer, then the answer or BrokerError."""
        for attempt in range(1, attempts + 1):
            try:
                status, answer_headers, parsed = self.request(method, path, body, headers)
            except requests.RequestException as error:
                if attempt == attempts:
                    raise BrokerError(0, {"type": "network", "detail": str(error)}) from error
                log(f"{method} {path}: {type(error).__name__}; retrying in 1 s")
                time.sleep(1)
                continue
            if status < 400:
                return parsed
            wait = retry_after_seconds(answer_headers.get("retry-after"))
            problem = parsed if isinstance(parsed, dict) else {}
            if wait is None or status not in (409, 429, 503) or attempt == attempts or wait > MAX_WAIT_SECONDS:
                raise BrokerError(status, problem)
            log(f"{method} {path}: {status} {problem.get('type', '')}; retrying after {wait} s (Retry-After), attempt {attempt + 1} of {attempts}")
            time.sleep(wait)
        raise AssertionError("unreachable")

    def open(self, service_id, ttl_seconds=None, mode=None, attempts=4):
        body = {"serviceId": service_id}
        if ttl_seconds is not None:
            body["ttlSeconds"] = ttl_seconds
        if mode is not None:
            body["mode"] = mode
        # One key for every attempt: a repeat replays the first answer instead of opening a second proxy.
        key = str(uuid.uuid4())
        return self.call("POST", "/connections", body, {"Idempotency-Key": key}, attempts)

    def get(self, connection_id):
        return self.call("GET", f"/connections/{connection_id}")

    def stop(self, connection_id):
        return self.call("DELETE", f"/connections/{connection_id}")


def log(line):
    print(f"broker.py: {line}", file=sys.stderr, flush=True)


def emit(connection):
    print(json.dumps(connection, separators=(",", ":")), flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Open a broker connection, read it, stop it.")
    parser.add_argument("service_id", metavar="SERVICE_ID", help="remote.it service address, e.g. 80:00:00:00:01:02:03:04")
    parser.add_argument("--api-url", default=os.environ.get("BROKER_API_URL"), help="the broker's base URL (default: $BROKER_API_URL)")
    parser.add_argument("--region", default=os.environ.get("BROKER_REGION"), help="region to sign for (default: $BROKER_REGION, else read from an execute-api URL)")
    parser.add_argument("--ttl", type=int, help="lease in seconds (the policy caps it)")
    parser.add_argument("--mode", choices=["latching", "ip", "public"])
    parser.add_argument("--attempts", type=int, default=4, help="tries of the open while the broker answers Retry-After (default 4)")
    args = parser.parse_args(argv)
    if not args.api_url:
        parser.error("--api-url (or BROKER_API_URL) is required")
    if args.attempts < 1:
        parser.error("--attempts must be at least 1")
    args.region = args.region or region_of(args.api_url)
    if not args.region:
        parser.error(f"--region (or BROKER_REGION) is required: {args.api_url} is not an execute-api URL (a custom domain or a local URL)")
    return args


def main(argv):
    args = parse_args(argv)
    broker = Broker(args.api_url, args.region)
    try:
        opened = broker.open(args.service_id, args.ttl, args.mode, args.attempts)
    except BrokerError as error:
        log(f"open failed: {error}")
        return 1
    emit(opened)
    log(f"opened {opened['id']} ({opened['status']})")
    failed = False
    try:
        # Your work goes here: connect to opened["proxy"]["host"]:opened["proxy"]["port"] (a latching proxy
        # belongs to the first address that connects), renewing with POST /connections/{id}/renew if it runs long.
        emit(broker.get(opened["id"]))
    except BrokerError as error:
        log(f"read failed: {error}")
        failed = True
    finally:
        # Stopped whatever happened above (Ctrl-C included): a lease should not outlive the work.
        stopped = stop(broker, opened["id"])
    if stopped is None:
        return 1
    emit(stopped)
    log(f"stopped {stopped['id']} ({stopped['status']})")
    return 1 if failed else 0


def stop(broker, connection_id):
    """The stopped connection (`stopping` when remote.it was unreachable: the broker retries), or None."""
    try:
        return broker.stop(connection_id)
    except BrokerError as error:
        log(f"stop failed: {error}")
        return None

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
