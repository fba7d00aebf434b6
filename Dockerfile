# texml: a static binary on a minimal, non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/texml ./cmd/texml

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/texml /usr/local/bin/texml
COPY --from=build /src/fixtures/apps /apps
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/texml"]
CMD ["call", "/apps/hello.xml"]
