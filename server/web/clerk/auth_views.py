"""Signing in and out, the language switch, and the app's error pages."""

from __future__ import annotations

from flask import redirect, request, url_for
from werkzeug.exceptions import HTTPException

from server.web import csrf
from server.web.auth import end_session, start_session
from server.web.auth import login as check_login
from server.web.clerk import bp
from server.web.clerk.common import STAFF, render, staff
from server.web.clerk.i18n import COOKIE, LANGS, both, gettext
from server.web.errors import ApiError


@bp.get("/")
def index():
    user = staff()
    return redirect(url_for("clerk.identification_list" if user.role in ("village", "county") else "clerk.dashboard"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error, status = None, 200
    name = ""
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        try:
            user = check_login(name, request.form.get("password", ""))
        except ApiError as exc:
            error, status = {"zh": exc.zh, "en": exc.en}, exc.status
        else:
            if user.role not in STAFF:
                error, status = both("网格员账号请使用平板，不能登录审核系统"), 403
            else:
                start_session(user)  # a fresh session (and CSRF token) on every sign-in
                if user.role in ("village", "county") and not request.args.get("next"):
                    return redirect(url_for("clerk.identification_list"))  # their own work starts there
                return redirect(_safe_next(request.args.get("next")))
    return render("login.html", error=error, name=name), status


@bp.post("/logout")
def logout():
    end_session()
    return redirect(url_for("clerk.login"))


@bp.get("/lang/<code>")
def switch_language(code: str):
    response = redirect(_safe_next(request.args.get("next")))
    if code in LANGS:
        response.set_cookie(COOKIE, code, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response


@bp.errorhandler(HTTPException)
def error_page(exc: HTTPException):
    if exc.response is not None:  # abort(redirect(...))
        return exc.response
    if exc.description == "csrf":
        csrf.token()
        message = "页面已过期，请重新提交"
    elif exc.code in (400, 403) and exc.description and not exc.description.isascii():
        message = exc.description  # said by the view, in words (400: what is wrong with the request)
    elif exc.code == 403:
        message = "没有权限"
    else:
        message = "没有找到" if exc.code == 404 else exc.name
    return render("error.html", message=gettext(message), code=exc.code), exc.code or 500


def _safe_next(target: str | None) -> str:
    """Only back into the clerk app: never an open redirect to another site."""
    if target and target.startswith("/clerk/") and not target.startswith("//"):
        return target
    return url_for("clerk.dashboard")
