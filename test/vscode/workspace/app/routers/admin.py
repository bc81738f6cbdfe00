from fastapi import APIRouter

router = APIRouter()


@router.get("/stats")
def stats() -> dict:
    return {"users": 0}


@router.post("/reindex")
def reindex() -> dict:
    return {"ok": True}
