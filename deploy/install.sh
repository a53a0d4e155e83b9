#!/usr/bin/env bash
# Install, upgrade or remove the 好差评 rating kiosk on Raspberry Pi OS Bookworm
# (64-bit) or Debian 12.
#
#   deploy/install.sh --role kiosk      touch screen + uploader (Raspberry Pi with a display)
#   deploy/install.sh --role headless   button panel device + uploader (no screen)
#   deploy/install.sh --role server     the central server (Debian 12)
#
# Options:
#   --dry-run      print every step and command, change nothing
#   --root DIR     install under DIR (a staged image or a test tree): every file
#                  written lands under DIR; apt, useradd and systemctl get DIR as
#                  their root option
#   --upgrade      new program version: reinstall the venv packages and the units,
#                  restart; the config, the buffer and the token are kept
#   --uninstall    stop and remove the program and units; keeps the config and the
#                  buffer (/var/lib/kiosk) unless --purge
#   --purge        with --uninstall: also delete the config, the data and the user
#   --no-start     install and enable, but do not start the services now
#
# Safe to run again: every step checks what is already there. An existing
# /etc/kiosk/kiosk.toml or server.toml is never overwritten.
#
# Display: the touch app draws straight to the screen through KMS/DRM (SDL's
# kmsdrm backend), started by systemd at boot. No X server, no desktop, no
# auto-login: fewer parts that can break or show a desktop to a citizen, a
# faster boot, and the systemd watchdog supervises the app itself. See
# docs/technician.md for the X11 alternative.

set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=/opt/kiosk
VENV=$PREFIX/venv
ETC=/etc/kiosk
STATE=/var/lib/kiosk
SERVER_STATE=/var/lib/kiosk-server
UNIT_DIR=/etc/systemd/system
SVC_USER=kiosk
PYTHON=${PYTHON:-python3}
export DEBIAN_FRONTEND=noninteractive

ROLE=""
ACTION=install
DRY=0
ROOT=""
PURGE=0
START=1
STEP=0

usage() { sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "install.sh: error: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --role) [ $# -ge 2 ] || die "--role needs kiosk, headless or server"; ROLE=$2; shift 2 ;;
    --role=*) ROLE=${1#--role=}; shift ;;
    --dry-run) DRY=1; shift ;;
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
    --root=*) ROOT=${1#--root=}; shift ;;
    --upgrade) ACTION=upgrade; shift ;;
    --uninstall) ACTION=uninstall; shift ;;
    --purge) PURGE=1; shift ;;
    --no-start) START=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || die "--root $ROOT is not a directory"
  ROOT="$(cd "$ROOT" && pwd)"
fi
if [ "$ACTION" != uninstall ]; then
  case "$ROLE" in
    kiosk|headless|server) ;;
    "") die "--role is required: kiosk (touch screen), headless (button panel) or server" ;;
    *) die "--role $ROLE is not valid: expected kiosk, headless or server" ;;
  esac
fi
[ "$PURGE" = 0 ] || [ "$ACTION" = uninstall ] || die "--purge only goes with --uninstall"
if [ "$DRY" = 0 ] && [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo $0 …), or use --dry-run / --root DIR"
fi

# --- helpers -------------------------------------------------------------------

step() { STEP=$((STEP + 1)); echo "[$STEP] $*"; }
note() { echo "    - $*"; }
run() {
  local q="" a
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./=:,@%+-]+$ ]]; then q+=" $a"; else q+=" $(printf '%q' "$a")"; fi
  done
  echo "    \$${q}"
  if [ "$DRY" = 0 ]; then "$@"; fi
}
r() { echo "$ROOT$1"; }   # a system path inside the install root

SYSTEMCTL=(systemctl)      # systemctl --root=DIR works on a tree offline
SHADOW_ROOT=()             # useradd/groupadd/usermod/userdel --root DIR
APT_ROOT=()
if [ -n "$ROOT" ]; then
  SYSTEMCTL=(systemctl "--root=$ROOT")
  SHADOW_ROOT=(--root "$ROOT")
  APT_ROOT=(-o "RootDir=$ROOT")
fi

owner() {  # user:group → as the target names it (numeric ids inside --root)
  local u=${1%%:*} g=${1##*:} uid gid
  if [ -n "$ROOT" ]; then
    uid=$(awk -F: -v n="$u" '$1 == n {print $3}' "$(r /etc/passwd)" 2>/dev/null || true)
    gid=$(awk -F: -v n="$g" '$1 == n {print $3}' "$(r /etc/group)" 2>/dev/null || true)
    echo "${uid:-$u}:${gid:-$g}"
  else
    echo "$1"
  fi
}

have_group() { grep -q "^$1:" "$(r /etc/group)" 2>/dev/null; }
have_user() { grep -q "^$1:" "$(r /etc/passwd)" 2>/dev/null; }
in_group() {  # user group
  grep "^$2:" "$(r /etc/group)" 2>/dev/null | cut -d: -f4 | tr ',' '\n' | grep -qx "$1"
}

ensure_dir() {  # path mode [owner]
  local p; p=$(r "$1")
  if [ -d "$p" ]; then note "$1 exists"; else run install -d -m "$2" "$p"; fi
  if [ -n "${3:-}" ]; then run chown "$(owner "$3")" "$p"; fi
}

put_file() {  # src dest mode: our own files, replaced when they changed
  local dest; dest=$(r "$2")
  if [ -f "$dest" ] && cmp -s "$1" "$dest" && [ "$(stat -c %a "$dest")" = "$3" ]; then
    note "$2 up to date"
  else
    run install -D -m "$3" "$1" "$dest"
  fi
}

write_new() {  # dest mode owner [secret]; content on stdin; never overwrites
  local dest tmp; dest=$(r "$1")
  if [ -e "$dest" ]; then
    note "$1 exists: kept as it is"
    cat >/dev/null
    return
  fi
  echo "    \$ install -D -m $2 <generated text> $dest"
  if [ "$DRY" = 0 ]; then
    tmp=$(mktemp)
    cat >"$tmp"
    install -D -m "$2" "$tmp" "$dest"
    rm -f "$tmp"
  elif [ -n "${4:-}" ]; then
    cat >/dev/null
    echo "      | <$4>"
  else
    sed 's/^/      | /'
  fi
  run chown "$(owner "$3")" "$dest"
}

new_token() {  # 256 random bits as 64 hex digits
  od -An -tx1 -N32 /dev/urandom | tr -d ' \n'
  echo
}

units_for_role() {
  case "$1" in
    kiosk) echo "kiosk-app.service kiosk-sync.service" ;;
    headless) echo "kiosk-headless.service kiosk-sync.service" ;;
    server) echo "kiosk-server.service" ;;
  esac
}

extra_units_for_role() {  # installed, not enabled
  [ "$1" != server ] || echo "kiosk-server@.service"
}

cmdline_file() {
  local f
  for f in /boot/firmware/cmdline.txt /boot/cmdline.txt; do
    if [ -f "$(r "$f")" ]; then echo "$f"; return; fi
  done
}

# --- install / upgrade ---------------------------------------------------------

apt_packages() {
  local pkgs=(python3 python3-venv ca-certificates sqlite3 tzdata)
  case "$ROLE" in
    kiosk) pkgs+=(fonts-wqy-microhei fontconfig
                  libsdl2-2.0-0 libsdl2-image-2.0-0 libsdl2-mixer-2.0-0 libsdl2-ttf-2.0-0
                  libgl1 libegl1 libgles2 libgbm1 libdrm2 libmtdev1 libinput10 alsa-utils) ;;
    headless) pkgs+=(fonts-wqy-microhei) ;;
    server) pkgs+=(postgresql-client) ;;
  esac
  echo "${pkgs[@]}"
}

do_install() {
  local units unit extra pkgs venv_opts=() groups=() g
  units=$(units_for_role "$ROLE")

  step "check the system"
  if [ -r "$(r /etc/os-release)" ]; then
    note "$(. "$(r /etc/os-release)"; echo "${PRETTY_NAME:-unknown}")"
  else
    note "no /etc/os-release under the root: not checked"
  fi
  if [ "$ACTION" = upgrade ] && [ ! -x "$(r $VENV/bin/kiosk)" ]; then
    die "$VENV is not installed here: run without --upgrade first"
  fi

  step "install Debian packages (apt; the program itself goes into a venv, PEP 668)"
  read -r -a pkgs <<<"$(apt_packages)"
  extra=()
  if [ "$ROLE" != server ] && apt-cache show python3-lgpio >/dev/null 2>&1; then
    extra=(python3-lgpio)   # Raspberry Pi OS: the GPIO library gpiozero uses on Bookworm
  fi
  run apt-get "${APT_ROOT[@]}" update -qq
  run apt-get "${APT_ROOT[@]}" install -y -qq --no-install-recommends "${pkgs[@]}" "${extra[@]}"

  step "create the service user $SVC_USER and its groups"
  if [ "$ROLE" != server ]; then
    groups=(gpio dialout video input render audio)
  fi
  for g in "${groups[@]}"; do
    if have_group "$g"; then note "group $g exists"; else run groupadd --system "${SHADOW_ROOT[@]}" "$g"; fi
  done
  local home=$STATE
  [ "$ROLE" != server ] || home=$SERVER_STATE
  if have_user "$SVC_USER"; then
    note "user $SVC_USER exists"
  else
    run useradd --system --user-group --home-dir "$home" --no-create-home \
      --shell /usr/sbin/nologin --comment "rating kiosk" "${SHADOW_ROOT[@]}" "$SVC_USER"
  fi
  local missing=()
  for g in "${groups[@]}"; do in_group "$SVC_USER" "$g" || missing+=("$g"); done
  if [ ${#missing[@]} -gt 0 ]; then
    run usermod "${SHADOW_ROOT[@]}" --append --groups "$(IFS=,; echo "${missing[*]}")" "$SVC_USER"
  elif [ ${#groups[@]} -gt 0 ]; then
    note "$SVC_USER is in ${groups[*]}"
  fi

  step "install the program into $VENV"
  # Device roles see python3-lgpio from Debian (--system-site-packages);
  # everything else is pip-installed into the venv.
  [ "$ROLE" = server ] || venv_opts=(--system-site-packages)
  if [ -x "$(r $VENV/bin/python)" ]; then
    note "$VENV exists"
  else
    run "$PYTHON" -m venv "${venv_opts[@]}" "$(r $VENV)"
  fi
  local spec="$SRC"
  case "$ROLE" in kiosk) spec="$SRC[kiosk]" ;; server) spec="$SRC[server]" ;; esac
  run "$(r $VENV/bin/pip)" install --quiet --upgrade pip
  run "$(r $VENV/bin/pip)" install --quiet --upgrade "$spec"
  local f
  for f in "$SRC"/config/*.toml; do put_file "$f" "$PREFIX/config/$(basename "$f")" 644; done
  for f in "$SRC"/docs/*.md; do [ -e "$f" ] && put_file "$f" "$PREFIX/docs/$(basename "$f")" 644; done

  step "write the configuration (an existing one is kept)"
  ensure_dir "$ETC" 755
  if [ "$ROLE" = server ]; then
    write_new "$ETC/server.toml" 640 "root:$SVC_USER" <<EOF
# The central server. Reference: docs/operations.md (written by deploy/install.sh).
[server]
# A SQLite file by default. For many devices use PostgreSQL (docs/operations.md):
# db = "postgresql://kiosk@localhost/kiosk"
db = "$SERVER_STATE/central.db"
host = "127.0.0.1"   # behind the reverse proxy (nginx); see docs/operations.md
port = 8080
timezone = "Asia/Shanghai"
rectify_days = 5
EOF
  else
    local device_id
    device_id=$(tr -cd 'A-Za-z0-9._-' 2>/dev/null <"$(r /etc/hostname)" || true)
    device_id=${device_id:-kiosk}
    write_new "$ETC/kiosk.toml" 640 "root:$SVC_USER" <<EOF
# This device. \`kiosk provision --server URL --code CODE\` fills in [device] and
# [sync]; examples with every key: $PREFIX/config/. Check with: kiosk doctor
[device]
id = "$device_id"
window = "1"
section = "综合服务区"
channel = $([ "$ROLE" = kiosk ] && echo 4 || echo 5)

[staff]
no = ""
name = ""

[ui]
mode = "free"

[hardware.gpio]
enabled = false          # true: five buttons on BCM 5, 6, 13, 19, 26 (docs/hardware.md)

[hardware.serial]
enabled = false          # true: an evaluator box on port (docs/hardware.md)
port = "/dev/ttyUSB0"

[sync]
server = ""              # set by kiosk provision
token_file = "$STATE/token"

[local_api]
# For the window's queue system (docs/local_api.md): it sends
# Authorization: Bearer <the token in token_file>.
bind = "127.0.0.1:8765"
token_file = "$STATE/local_api.token"
max_prompts_per_minute = 60
EOF
  fi

  step "create the data directory (the buffer and the tokens live here)"
  if [ "$ROLE" = server ]; then
    ensure_dir "$SERVER_STATE" 750 "$SVC_USER:$SVC_USER"
  else
    ensure_dir "$STATE" 750 "$SVC_USER:$SVC_USER"
    # The local API never runs without a token: the queue system reads this one.
    new_token | write_new "$STATE/local_api.token" 640 "$SVC_USER:$SVC_USER" "a new random token"
  fi

  step "install the systemd units"
  for unit in $units $(extra_units_for_role "$ROLE"); do put_file "$SRC/systemd/$unit" "$UNIT_DIR/$unit" 644; done

  if [ "$ROLE" = kiosk ]; then
    step "screen: the app draws through KMS/DRM; no console login on it, no blanking"
    run "${SYSTEMCTL[@]}" set-default multi-user.target
    run "${SYSTEMCTL[@]}" mask getty@tty1.service
    local cmdline; cmdline=$(cmdline_file)
    if [ -z "$cmdline" ]; then
      note "no /boot/firmware/cmdline.txt: add consoleblank=0 to the kernel command line by hand"
    elif grep -q 'consoleblank=0' "$(r "$cmdline")"; then
      note "$cmdline already has consoleblank=0"
    else
      run sed -i '1 s/$/ consoleblank=0/' "$(r "$cmdline")"
    fi
  fi

  step "start on boot"
  if [ "$ROLE" = kiosk ] && [ -e "$(r $UNIT_DIR/kiosk-headless.service)" ]; then
    run "${SYSTEMCTL[@]}" disable kiosk-headless.service
  fi
  if [ "$ROLE" = headless ] && [ -e "$(r $UNIT_DIR/kiosk-app.service)" ]; then
    run "${SYSTEMCTL[@]}" disable kiosk-app.service
  fi
  [ -n "$ROOT" ] || run systemctl daemon-reload
  # shellcheck disable=SC2086
  run "${SYSTEMCTL[@]}" enable $units
  if [ -n "$ROOT" ]; then
    note "--root: the services start when the target boots"
  elif [ "$START" = 0 ]; then
    note "--no-start: start with: systemctl start $units"
  else
    # shellcheck disable=SC2086
    if [ "$ACTION" = upgrade ]; then run systemctl restart $units; else run systemctl start $units; fi
  fi

  step "next"
  if [ "$ROLE" = server ]; then
    note "create a login:   sudo -u $SVC_USER $VENV/bin/kiosk admin add-user --username admin --role admin"
    note "health:           curl http://127.0.0.1:8080/healthz ; docs/operations.md for nginx and PostgreSQL"
  else
    note "enrol:  sudo $VENV/bin/kiosk provision --server https://SERVER --code CODE && sudo chown $SVC_USER: $STATE/token"
    note "check:  sudo -u $SVC_USER $VENV/bin/kiosk doctor"
    note "queue system: the local API token is in $STATE/local_api.token (mode 0640, group $SVC_USER);"
    note "        see docs/local_api.md, and \`kiosk status\` for where the device listens"
  fi
}

# --- uninstall -------------------------------------------------------------------

do_uninstall() {
  local unit present=()
  for unit in kiosk-app.service kiosk-headless.service kiosk-sync.service kiosk-server.service; do
    [ -e "$(r $UNIT_DIR/$unit)" ] && present+=("$unit")
  done
  local template=""
  [ ! -e "$(r "$UNIT_DIR/kiosk-server@.service")" ] || template="kiosk-server@.service"

  step "stop and disable the services"
  if [ ${#present[@]} -eq 0 ]; then
    note "no kiosk units installed"
  elif [ -n "$ROOT" ]; then
    run "${SYSTEMCTL[@]}" disable "${present[@]}"
  else
    run systemctl disable --now "${present[@]}"
  fi

  step "remove the units and the program"
  if [ -n "$template" ] && [ -z "$ROOT" ]; then
    run systemctl stop 'kiosk-server@*.service'
  fi
  for unit in "${present[@]}" $template; do run rm -f "$(r $UNIT_DIR/$unit)"; done
  if [ -L "$(r $UNIT_DIR/getty@tty1.service)" ] || [[ " ${present[*]} " == *" kiosk-app.service "* ]]; then
    run "${SYSTEMCTL[@]}" unmask getty@tty1.service
  fi
  local cmdline; cmdline=$(cmdline_file)
  if [ -n "$cmdline" ] && grep -q ' consoleblank=0' "$(r "$cmdline")"; then
    run sed -i '1 s/ consoleblank=0//' "$(r "$cmdline")"
  fi
  if [ -d "$(r $PREFIX)" ]; then run rm -rf "$(r $PREFIX)"; else note "$PREFIX already gone"; fi
  [ -n "$ROOT" ] || run systemctl daemon-reload

  if [ "$PURGE" = 1 ]; then
    step "purge: delete the configuration, the buffer, the token and the user"
    local d
    for d in "$ETC" "$STATE" "$SERVER_STATE"; do
      if [ -e "$(r "$d")" ]; then run rm -rf "$(r "$d")"; fi
    done
    if have_user "$SVC_USER"; then run userdel "${SHADOW_ROOT[@]}" "$SVC_USER"; fi
  else
    step "kept"
    [ -e "$(r $ETC)" ] && note "$ETC (configuration)"
    [ -e "$(r $STATE)" ] && note "$STATE (buffer and token): events not yet uploaded are still there"
    [ -e "$(r $SERVER_STATE)" ] && note "$SERVER_STATE (server database)"
    note "delete them too with: $0 --uninstall --purge"
  fi
}

[ "$DRY" = 0 ] || echo "dry run: nothing is changed"
echo "kiosk install.sh: ${ACTION}${ROLE:+ --role $ROLE}${ROOT:+ under $ROOT}"
if [ "$ACTION" = uninstall ]; then do_uninstall; else do_install; fi
echo "done"
