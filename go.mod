module github.com/texml/texml

go 1.26.8

require (
	github.com/beevik/etree v1.8.1
	go.yaml.in/yaml/v3 v3.0.6
)
