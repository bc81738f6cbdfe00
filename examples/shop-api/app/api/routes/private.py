"""Helpers for local development only (seeding users without going through signup)."""

import sqlite3
from typing import Any

from fastapi import APIRouter, Depends

from app.api.deps import get_db
from app.core.security import get_password_hash
from app.schemas import UserCreate

router = APIRouter(prefix="/private", tags=["private"])


@router.post("/users/")
def create_user_unchecked(user_in: UserCreate, db: sqlite3.Connection = Depends(get_db)) -> Any:
    db.execute(
        "INSERT INTO users (email, full_name, hashed_password, is_superuser) VALUES (?, ?, ?, ?)",
        (user_in.email, user_in.full_name, get_password_hash(user_in.password), user_in.is_superuser),
    )
    db.commit()
    return {"email": user_in.email}
