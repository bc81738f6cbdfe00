import sqlite3
import subprocess

from fastapi import APIRouter, Depends, Query

from app.api.deps import get_db

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
def liveness() -> dict:
    return {"status": "ok"}


@router.get("/ready")
def readiness(db: sqlite3.Connection = Depends(get_db)) -> dict:
    db.execute("SELECT 1").fetchone()
    return {"status": "ok", "database": "reachable"}


@router.post("/ping")
def ping_upstream(host: str = Query(..., description="Host name of the payment provider")) -> dict:
    """Used by the on-call runbook to check connectivity from inside the container."""
    cmd = f"ping -c 1 -W 2 {host}"
    result = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    return {"returncode": result.returncode, "output": result.stdout[-500:]}
