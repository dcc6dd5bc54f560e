#!/usr/bin/env bash
# The bundled models on recordings that no choice ever looked at: the music of three Debian packages outside
# the five the real corpus is built from (wesnoth-1.16-music: orchestral; supertux-data: chiptune and
# electronic; lincity-ng-data: ambient), about 95 files. Nothing here is used for training or for choosing;
# it shows what a user gets from `loev eval --corpus ~/music` on a plain folder of songs (no manifest, no
# labels: each file of 30 s or more is a track, and every file is scored). About 3 min on a 2-core CPU.
#   scripts/outside_music.sh            # fetch (cached), extract, evaluate into runs/outside-eval{,-wesnoth,-supertux}
#   OUT=DIR THREADS=N scripts/outside_music.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DEBS=data/outside-debs
MUSIC=data/outside
OUT="${OUT:-runs/outside-eval}"
THREADS="${THREADS:-2}"
PACKAGES=(wesnoth-1.16-music supertux-data lincity-ng-data)

mkdir -p "$DEBS"
for p in "${PACKAGES[@]}"; do
  if ! ls "$DEBS/${p}"_*.deb > /dev/null 2>&1; then
    (cd "$DEBS" && apt-get download "$p") || { echo "cannot fetch $p from the package registry" >&2; exit 1; }
  fi
done
if [ ! -d "$MUSIC" ]; then
  tmp=$(mktemp -d)
  for d in "$DEBS"/*.deb; do dpkg -x "$d" "$tmp"; done
  mkdir -p "$MUSIC.part"/{wesnoth,supertux,lincity}
  cp "$tmp"/usr/share/games/wesnoth/1.16/data/core/music/*.ogg "$MUSIC.part/wesnoth/"
  (cd "$tmp/usr/share/games/supertux2/music" && find . -name '*.ogg' -exec cp --parents {} "$OLDPWD/$MUSIC.part/supertux/" \;)
  cp "$tmp"/usr/share/games/lincity-ng/music/default/*.ogg "$MUSIC.part/lincity/"
  rm -rf "$tmp"
  mv "$MUSIC.part" "$MUSIC"
fi
echo "$(find "$MUSIC" -name '*.ogg' | wc -l) files in $MUSIC"
# all three packages together, then the two big ones alone (same-recording P@1 depends on the collection)
for part in "" wesnoth supertux; do
  out="$OUT${part:+-$part}"
  OMP_NUM_THREADS="$THREADS" .venv/bin/loev eval --checkpoint assets/checkpoints/demo-simclr \
    --checkpoint assets/checkpoints/demo-loev --checkpoint assets/checkpoints/demo-loevpp \
    --corpus "$MUSIC${part:+/$part}" --out "$out" --threads "$THREADS" --quiet > /dev/null
  echo "wrote $out/results.md"
done
