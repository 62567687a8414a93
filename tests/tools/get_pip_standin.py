"""Offline stand-in for the get-pip script ansible-test downloads to bootstrap its venvs.

ansible-test runs it as ``python get_pip.py [pip options] pip==X setuptools==Y ...``; we bootstrap
pip from the standard library's ensurepip, then let that pip install what was asked for.
"""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
