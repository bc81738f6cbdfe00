import os

DEBUG = os.environ.get("APP_DEBUG") == "1"
SECRET_KEY = os.environ["APP_SECRET_KEY"]
