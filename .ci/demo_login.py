"""Log in with the logins `create_demo_users` printed; load the home page and the admin."""

import http.cookiejar
import re
import sys
import urllib.parse
import urllib.request

base, logins_file = sys.argv[1], sys.argv[2]
# create_demo_users prints one line per account: "<role>  login: <user>  password: <pw>".
LOGIN_LINE = r"^\s*(\w+)\s+login:\s+(\S+)\s+password:\s+(\S+)"
with open(logins_file) as printed:
    logins = {role: (user, pw) for role, user, pw in re.findall(LOGIN_LINE, printed.read(), re.M)}


def session_for(login_path: str, user: str, password: str):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + login_path).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {"username": user, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(base + login_path, data=data, headers={"Referer": base})
    opener.open(request)
    return opener


def expect(opener, path: str, needle: str) -> None:
    response = opener.open(base + path)
    body = response.read().decode()
    if response.status != 200 or needle not in body:
        sys.exit(f"FAIL {path}: status {response.status}, {needle!r} not in page")
    print(f"ok {path} ({response.geturl()})")


marketer = session_for("/login/", *logins["marketer"])
expect(marketer, "/", "Customers")
expect(marketer, "/customers/", "Customers")
admin = session_for("/admin/login/", *logins["admin"])
expect(admin, "/admin/", "Site administration")
expect(admin, "/admin/crm/customer/", "Select customer to change")
