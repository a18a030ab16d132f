"""Use what `make demo` printed: log in with the logins and load pages; or, with
`--campaign-status CODE`, print a campaign's status read with the printed marketer token;
or, with `--search VALUE...`, search the customers by each value as the marketer."""

import http.cookiejar
import json
import re
import sys
import urllib.parse
import urllib.request

base, printed_file = sys.argv[1], sys.argv[2]
with open(printed_file) as printed_lines:
    printed = printed_lines.read()
# create_demo_users prints "<role>  login: <user>  password: <pw>" and "<user> API token: <key>".
LOGIN_LINE = r"^\s*(\w+)\s+login:\s+(\S+)\s+password:\s+(\S+)"
KEY_LINE = r"^\s*(\w+) API token: (\w+)"
logins = {role: (user, pw) for role, user, pw in re.findall(LOGIN_LINE, printed, re.M)}
tokens = dict(re.findall(KEY_LINE, printed, re.M))


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


if sys.argv[3:4] == ["--campaign-status"]:
    request = urllib.request.Request(
        f"{base}/api/v1/campaigns/{sys.argv[4]}/",
        headers={"Authorization": f"Token {tokens['marketer']}"},
    )
    with urllib.request.urlopen(request) as response:
        print(json.load(response)["status"])
    sys.exit(0)

marketer = session_for("/login/", *logins["marketer"])
if sys.argv[3:4] == ["--search"]:
    # Searches by each value given (a phone, an e-mail): each finds its customer.
    for value in sys.argv[4:]:
        expect(
            marketer,
            "/customers/?" + urllib.parse.urlencode({"q": value}),
            "<strong>1</strong> customer match",
        )
    sys.exit(0)

expect(marketer, "/", "Customers")
expect(marketer, "/customers/", "Customers")
expect(marketer, "/campaigns/weekend-treats/", "Weekend treats for regulars")
expect(marketer, "/segments/", "Loyal snackers")
admin = session_for("/admin/login/", *logins["admin"])
expect(admin, "/admin/", "Site administration")
expect(admin, "/admin/crm/customer/", "Select customer to change")
