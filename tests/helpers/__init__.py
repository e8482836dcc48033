"""Test helpers used by more than one test module: synthetic inputs and reference implementations.

Nothing here is a test. A test module imports what it needs from here, never
from another test module, so that a reference implementation lives in one
place and is read by every test that compares against it.
"""
