from setuptools import find_packages, setup

CORE = ["pyserial>=3.5", "gpiozero>=2.0", "sqlite-utils>=3.35", "requests>=2.31"]
KIOSK = ["kivy>=2.3"]
SERVER = [
    "fastapi>=0.110",
    "uvicorn[standard]>=0.27",
    "fastapi-offline>=1.7",  # Swagger UI files for /docs, served locally (no CDN)
    "sqlalchemy>=2.0",
    "alembic>=1.13",
    "psycopg[binary]>=3.1",
    "jinja2>=3.1",
    "python-multipart>=0.0.9",
    "openpyxl>=3.1",
    "chinese-calendar>=1.11",
]
TEST = [
    "pytest>=8",
    "pytest-timeout>=2.2",
    "hypothesis>=6.100",
    "httpx>=0.27",
    "playwright>=1.40",
    "schemathesis>=3.25",
    "ruff>=0.4",
]

setup(
    name="kiosk-haochaping",
    version="0.1.0",
    description="好差评 counter rating kiosk: touch/button device, durable buffer, uploader and central server",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["kiosk", "kiosk.*", "sync", "sync.*", "central", "central.*"]),
    include_package_data=True,
    package_data={
        "kiosk": ["data/*", "data/**/*"],
        "central": ["migrations/*", "migrations/**/*", "templates/*", "templates/**/*",
                    "static/*", "static/**/*", "alembic.ini"],
        "central.web": ["templates/*", "static/*", "static/**/*"],
    },
    install_requires=CORE,
    extras_require={
        "kiosk": KIOSK,
        "server": SERVER,
        "test": TEST,
        "all": KIOSK + SERVER,
    },
    entry_points={"console_scripts": ["kiosk = kiosk.cli:main"]},
)
