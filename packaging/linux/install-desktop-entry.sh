#!/bin/sh
# Make the packaged app double-clickable for the current user (no root, nothing outside ~/.local):
#   dist/cxrviewer/install-desktop-entry.sh            (from inside the unpacked app folder)
# Installs ~/.local/share/applications/cxrviewer.desktop and the icon; remove both files to undo.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exe="$here/cxrviewer"
[ -x "$exe" ] || { echo "cxrviewer executable not found beside this script ($exe)" >&2; exit 1; }
data="${XDG_DATA_HOME:-$HOME/.local/share}"
mkdir -p "$data/applications" "$data/icons/hicolor/256x256/apps"
cp "$here/cxrviewer.png" "$data/icons/hicolor/256x256/apps/cxrviewer.png"
# Quote the path for the desktop-entry Exec key (spaces are allowed in the folder name).
sed -e "s|^Exec=.*|Exec=\"$exe\" %F|" -e "s|^TryExec=.*|TryExec=$exe|" \
    "$here/cxrviewer.desktop" > "$data/applications/cxrviewer.desktop"
chmod 0644 "$data/applications/cxrviewer.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$data/applications" || true
echo "installed $data/applications/cxrviewer.desktop -> $exe"
