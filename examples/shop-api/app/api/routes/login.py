import sqlite3
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import OAuth2PasswordRequestForm

from app.api import deps
from app.core import security
from app.schemas import Message, NewPassword, Token, User, UserPublic

router = APIRouter(tags=["login"])


@router.post("/login/access-token", response_model=Token)
def login_access_token(
    db: sqlite3.Connection = Depends(deps.get_db),
    form_data: OAuth2PasswordRequestForm = Depends(),
) -> Token:
    row = db.execute("SELECT * FROM users WHERE email = ?", (form_data.username,)).fetchone()
    if row is None or not security.verify_password(form_data.password, row["hashed_password"]):
        raise HTTPException(status_code=400, detail="Incorrect email or password")
    if not row["is_active"]:
        raise HTTPException(status_code=400, detail="Inactive user")
    return Token(access_token=security.create_access_token(row["id"]))


@router.post("/login/test-token", response_model=UserPublic)
def test_token(current_user: User = Depends(deps.get_current_user)) -> Any:
    return current_user


@router.post("/password-recovery/{email}", response_model=Message)
def recover_password(email: str, db: sqlite3.Connection = Depends(deps.get_db)) -> Message:
    row = db.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
    if row is not None:
        token = security.create_access_token(f"reset:{row['id']}")
        print(f"password reset link for {email}: /reset-password?token={token}")
    return Message(message="If that account exists, a recovery e-mail is on its way")


@router.post("/reset-password/", response_model=Message)
def reset_password(body: NewPassword, db: sqlite3.Connection = Depends(deps.get_db)) -> Message:
    try:
        payload = security.decode_access_token(body.token)
    except Exception as e:
        raise HTTPException(status_code=400, detail=str(e))
    user_id = str(payload.get("sub", "")).removeprefix("reset:")
    db.execute(
        "UPDATE users SET hashed_password = ? WHERE id = ?",
        (security.get_password_hash(body.new_password), user_id),
    )
    db.commit()
    return Message(message="Password updated successfully")
