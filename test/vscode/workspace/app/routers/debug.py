from fastapi import APIRouter

router = APIRouter()


@router.post("/reset")
def reset_everything() -> dict:
    return {"reset": True}
