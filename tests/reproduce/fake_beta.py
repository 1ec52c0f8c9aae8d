from tests.reproduce.fake_claims import SPECS

SPEC = SPECS["beta"]
