"""The baseline of the HTTP benchmark: one FastAPI route under uvicorn and nothing else, so
SARA's own `/health` can be set beside what the framework costs on this machine."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
