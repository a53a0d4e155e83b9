from setuptools import find_namespace_packages, setup

INSTALLED = ["kiosk", "kiosk.*", "sync", "sync.*", "central", "central.*"]
#: Data shipped beside the code: alembic's ini and script template, web templates and
#: static files (vendor scripts and their licences), the device's voice prompts.
DATA_FILES = ["py.typed", "*.ini", "*.mako", "*.html", "*.css", "*.js", "*.map", "*.svg", "*.png", "*.ico", "*.woff2",
              "*.json", "*.toml", "*.txt", "*.wav", "LICENSE", "README"]

# Lower bounds are what the code needs; `./dev/test.sh --lowest-pins` (run by CI)
# installs exactly these versions in a fresh venv and runs the device and server
# tests on them, so a bound cannot promise more than it keeps.
CORE = [
    "pyserial>=3.5",        # Serial(exclusive=True), cancel_read(); the release tested on Python 3.11
    "gpiozero>=2.0",        # lgpio pin factory for Raspberry Pi 5 / Bookworm, MockFactory in the tests
    "sqlite-utils>=4.0",    # Database.atomic() first appeared in 4.0
    "requests>=2.31.0",     # 2.31.0 stops leaking Proxy-Authorization on redirects (CVE-2023-32681)
]
KIOSK = [
    "kivy>=2.3.0",          # the floor the touch screens are tested on (tests/ui at 2.3.0)
    "segno>=1.5.2",         # make_qr(error=…), matrix_iter(scale, border): the window's QR on screen
]
SERVER = [
    "fastapi>=0.110.0",     # pydantic 2 and Path/Query(pattern=…) need 0.100; the floor tested is 0.110.0
    "uvicorn[standard]>=0.27.0",  # Server.run(sockets=…), timeout_graceful_shutdown
    "orjson>=3.9.0",        # fastapi's ORJSONResponse on the devices' hot path (heartbeat, batch answers)
    "fastapi-offline>=1.7",  # Swagger UI files for /docs, served locally (no CDN)
    "sqlalchemy>=2.0.0",    # 2.0-style Connection/select API and the psycopg 3 dialect
    "alembic>=1.13.0",      # the floor the migrations are tested on
    "psycopg[binary]>=3.1.4",  # psycopg-binary has wheels for Python 3.11 from 3.1.4 on
    "jinja2>=3.1.0",        # the floor the web pages are tested on
    "python-multipart>=0.0.9",  # form posts (login, case steps) through Starlette
    "openpyxl>=3.1.0",      # the floor the CSV/XLSX exports are tested on
    "chinese-calendar>=1.11.0",  # the State Council holiday and 调休 calendar for working-day deadlines
    "gmssl>=3.2.2",         # SM2/SM3 signatures for the provincial platform (sign_with_sm3 / verify_with_sm3)
    "prometheus-client>=0.17.0",  # /metrics summed over server processes (multiprocess mode)
    "segno>=1.5.2",         # make(), save(kind="png"/"svg", svgclass=…, lineclass=None) for the window QR codes
]
TEST = [
    "pytest>=8",
    "pytest-timeout>=2.2",
    "hypothesis>=6.100",
    "httpx>=0.27",
    "playwright>=1.40",
    "schemathesis>=3.25",
    "ruff>=0.4",
    "zxing-cpp>=2.2.0", "pillow>=10.0",  # read_barcodes(): decode the window QR codes in tests/web and tests/ui
    "mypy>=1.10", "types-requests>=2.31", "types-pyserial>=3.5",
]

setup(
    name="kiosk-haochaping",
    version="0.1.0",
    description="好差评 counter rating kiosk: touch/button device, durable buffer, uploader and central server",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    # Every directory under the three installed packages is a package, data directories
    # (migrations, templates, static, data) as namespace packages, so new subpackages are
    # picked up without listing them; test helpers (testkit/, tests/) stay out.
    packages=find_namespace_packages(include=INSTALLED, exclude=["*.__pycache__"]),
    package_data={"": DATA_FILES},
    exclude_package_data={"": ["*.db", "*.db-wal", "*.db-shm", "*.pyc"]},
    install_requires=CORE,
    extras_require={
        "kiosk": KIOSK,
        "server": SERVER,
        "test": TEST,
        "all": KIOSK + SERVER,
    },
    entry_points={"console_scripts": ["kiosk = kiosk.cli:main"]},
)
