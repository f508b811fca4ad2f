"""What the live tests need: a running API and worker (test/e2e/pythonClient.test.ts starts them).

INFERQ_TEST_BASE_URL, INFERQ_TEST_API_KEY (a pro user), INFERQ_TEST_LIMITED_API_KEY (a user who
may submit once per window), INFERQ_TEST_IMAGE (a JPEG), INFERQ_TEST_ERASABLE_API_KEY and
INFERQ_TEST_ERASABLE_EMAIL (a user whose account a test deletes), INFERQ_TEST_UNSERVED_MODEL (a
model in the registry that no running worker serves). Without them the live tests are skipped,
and the harness that runs them fails on any skip.
"""

import os
import unittest

BASE_URL = os.environ.get("INFERQ_TEST_BASE_URL", "")
API_KEY = os.environ.get("INFERQ_TEST_API_KEY", "")
LIMITED_API_KEY = os.environ.get("INFERQ_TEST_LIMITED_API_KEY", "")
IMAGE = os.environ.get("INFERQ_TEST_IMAGE", "")
#: A user the tests may delete, and their email (the confirmation).
ERASABLE_API_KEY = os.environ.get("INFERQ_TEST_ERASABLE_API_KEY", "")
ERASABLE_EMAIL = os.environ.get("INFERQ_TEST_ERASABLE_EMAIL", "")
UNSERVED_MODEL = os.environ.get("INFERQ_TEST_UNSERVED_MODEL", "")

needs_server = unittest.skipUnless(BASE_URL and API_KEY and IMAGE, "no API to test against (INFERQ_TEST_BASE_URL, INFERQ_TEST_API_KEY, INFERQ_TEST_IMAGE)")
