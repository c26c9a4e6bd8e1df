module github.com/eventfn/eventfn/deploy/launch

go 1.26.0
