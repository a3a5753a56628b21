"""Every API error is `{"error": {"code": "...", "message": "..."}}` with a fitting status."""

from __future__ import annotations

from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException

from cloud.api import bp


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


@bp.errorhandler(ApiError)
def _api_error(e: ApiError) -> tuple[Response, int]:
    resp, status = error_response(e.status, e.code, e.message)
    if e.code == "unauthorized":
        resp.headers["WWW-Authenticate"] = 'Bearer realm="juchong"'
    return resp, status


@bp.app_errorhandler(HTTPException)
def _http_error(e: HTTPException) -> tuple[Response, int] | HTTPException:
    # App-wide so that unknown /api/ URLs (no blueprint matched) also answer in JSON.
    if not request.path.startswith(bp.url_prefix or "/api"):
        return e
    code = (e.name or "error").lower().replace(" ", "_")
    return error_response(e.code or 500, code, e.description or code)


@bp.errorhandler(Exception)
def _unexpected(e: Exception) -> tuple[Response, int]:
    from flask import current_app

    current_app.logger.exception("unhandled error in the API")
    return error_response(500, "internal", "internal error; the cloud's log has the details")
