#!/bin/sh
# The proxy's start: the Let's Encrypt certificate for $MADO_DOMAIN when certbot has made one,
# else a temporary self-signed one (so that nginx starts and answers certbot's challenge on
# port 80; LINE refuses it, and `mado doctor` says so). Twice a day: a renewed certificate is
# picked up.
set -eu
: "${MADO_DOMAIN:?set MADO_DOMAIN in .env}"
live="/etc/letsencrypt/live/$MADO_DOMAIN"
tls=/etc/mado/tls
mkdir -p "$tls" /var/www/acme

use_certificate() {
    if [ -s "$live/fullchain.pem" ]; then
        ln -sf "$live/fullchain.pem" "$tls/fullchain.pem"
        ln -sf "$live/privkey.pem" "$tls/privkey.pem"
    elif [ ! -s "$tls/fullchain.pem" ]; then
        echo "mado proxy: no certificate for $MADO_DOMAIN yet; a temporary self-signed one until certbot has run" >&2
        openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$MADO_DOMAIN" \
            -keyout "$tls/privkey.pem" -out "$tls/fullchain.pem" 2>/dev/null
    fi
}

use_certificate
( while sleep 43200; do use_certificate; nginx -s reload; done ) &
exec nginx -g 'daemon off;'
