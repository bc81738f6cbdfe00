#!/usr/bin/env bash
# Draws media/icon.png (128x128, the Marketplace / Extensions view icon) with ImageMagick:
# a teal tile, a white shield and a lens looking into it. Re-run after changing the drawing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
convert -size 512x512 xc:none \
  -fill '#0E978A' -draw 'roundrectangle 8,8 503,503 96,96' \
  -fill white -draw "path 'M256,70 L116,124 L116,236 C116,330 176,402 256,434 C336,402 396,330 396,236 L396,124 Z'" \
  -fill '#0B8A7E' -draw 'circle 244,236 244,310' \
  -fill white -draw 'circle 244,236 244,282' \
  -fill '#E5534B' -draw "path 'M220,232 L220,214 C220,200 232,190 244,190 C256,190 268,200 268,214 L268,232 L256,232 L256,214 C256,207 250,202 244,202 C238,202 232,207 232,214 L232,232 Z'" \
  -fill '#E5534B' -draw 'roundrectangle 212,230 276,276 8,8' \
  -stroke '#0B8A7E' -strokewidth 26 -draw 'line 300,292 344,336' \
  -resize 128x128 -strip icon.png
