# texml: a static binary on Debian slim, which carries the speech engines
# `texml serve` runs as subprocesses (espeak-ng, pocketsphinx). Non-root.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/texml ./cmd/texml

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng pocketsphinx pocketsphinx-en-us ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/texml --create-home texml
COPY --from=build /out/texml /usr/local/bin/texml
COPY --from=build /src/fixtures/apps /apps
USER texml
WORKDIR /var/lib/texml
# SIP (UDP and TCP), HTTP (recordings, /healthz, /metrics), RTP.
EXPOSE 5060/udp 5060/tcp 8080/tcp 10000-20000/udp
ENTRYPOINT ["/usr/local/bin/texml"]
CMD ["serve", "--voice-url", "/apps/hello.xml", "--recordings-dir", "/var/lib/texml/recordings"]
