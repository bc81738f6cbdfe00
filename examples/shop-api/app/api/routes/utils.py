import smtplib
from email.message import EmailMessage

from fastapi import APIRouter

from app.core.config import settings
from app.schemas import Message

router = APIRouter(tags=["utils"])


@router.post("/test-email/", status_code=201, response_model=Message)
def test_email(email_to: str) -> Message:
    message = EmailMessage()
    message["From"] = settings.EMAILS_FROM
    message["To"] = email_to
    message["Subject"] = f"{settings.PROJECT_NAME} - test e-mail"
    message.set_content("If you can read this, e-mail delivery works.")
    with smtplib.SMTP(settings.SMTP_HOST, timeout=10) as smtp:
        smtp.send_message(message)
    return Message(message="Test e-mail sent")


@router.get("/config")
def read_config() -> dict:
    return settings.dict(exclude={"SECRET_KEY"})
