module cgomain

go 1.26.0
