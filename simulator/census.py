"""The simulator's census: a fixed table of known cédulas plus a stable rule for any other."""

from __future__ import annotations

import hashlib
from typing import Any

# Known numbers for tests and demos: state → cédula. Every other cédula gets a stable answer
# from `_bucket()` (mostly found).
KNOWN_CEDULAS: dict[str, str] = {
    "found": "1020304050",  # found, upper-case keys
    "found_lowercase": "52123456",  # found, lower-case keys; `direccion` is the school's name
    "not_in_census": "1000000001",  # encontrado:false, "no se encuentra en el censo electoral"
    "not_in_census_election": "1000000002",  # encontrado:false, "... para esta elección"
    "cancelled_deceased": "1000000003",  # novedad:true, "Cancelada por Muerte"
    "cancelled_other": "1000000004",  # novedad:true, "Baja por Perdida o Suspension ..."
    "pending_review": "1000000005",  # encontrado:false, "Pendiente por Solicitud en proceso"
    "deceased_not_found_shape": "1000000006",  # encontrado:false, "Cancelada por Muerte"
}

MSG_NOT_IN_CENSUS = "El documento no se encuentra en el censo electoral."
MSG_NOT_IN_ELECTION = "El documento no se encuentra en el censo para esta elección."
MSG_DECEASED = "Cancelada por Muerte"
MSG_OTHER = "Baja por Perdida o Suspension de los Derechos Politicos"
MSG_PENDING = "Pendiente por Solicitud en proceso"

# (departamento, municipio, DIVIPOL dept, DIVIPOL municipality, lat, lng)
PLACES = [
    ("BOGOTA D.C.", "BOGOTA. D.C.", 16, 1, 4.6097, -74.0817),
    ("ANTIOQUIA", "MEDELLIN", 1, 1, 6.2442, -75.5812),
    ("VALLE", "CALI", 31, 1, 3.4516, -76.5320),
    ("ATLANTICO", "BARRANQUILLA", 3, 1, 10.9685, -74.7813),
    ("SANTANDER", "BUCARAMANGA", 27, 1, 7.1193, -73.1227),
    ("BOLIVAR", "CARTAGENA", 5, 1, 10.3910, -75.4794),
    ("CUNDINAMARCA", "SOACHA", 15, 282, 4.5794, -74.2168),
    ("NARIÑO", "PASTO", 23, 1, 1.2136, -77.2811),
    ("BOYACA", "TUNJA", 7, 1, 5.5353, -73.3678),
    ("CALDAS", "MANIZALES", 9, 1, 5.0703, -75.5138),
]
# (puesto, direccion) — one entry repeats the school's name as the address, as seen live.
PUESTOS = [
    ("IE INSTITUTO TECNICO CENTRAL", "CL 13 # 16-74"),
    ("COLEGIO DEPARTAMENTAL SAN JOSE", "CR 7 # 9-96"),
    ("UNIVERSIDAD PUBLICA SEDE CENTRO", "AV 30 # 45-03"),
    ("IE LICEO DEPARTAMENTAL", "IE LICEO DEPARTAMENTAL"),
    ("COLISEO CUBIERTO MUNICIPAL", "CL 50 # 52-10"),
    ("IE JOSE MARIA CORDOBA", "KR 45 # 80-12"),
]


def _digest(cedula: str) -> bytes:
    return hashlib.sha256(f"censo:{cedula}".encode()).digest()


def _bucket(cedula: str) -> str:
    n = _digest(cedula)[0] * 100 // 256  # 0..99
    if n < 85:
        return "found"
    if n < 92:
        return "not_in_census"
    if n < 95:
        return "cancelled_deceased"
    if n < 98:
        return "cancelled_other"
    return "pending_review"


def _found(cedula: str, *, upper: bool, school_address: bool = False) -> dict[str, Any]:
    h = _digest(cedula)
    dep, mun, dep_code, mun_code, lat, lng = PLACES[h[1] % len(PLACES)]
    puesto, direccion = PUESTOS[3] if school_address else PUESTOS[h[2] % len(PUESTOS)]
    zona, n_puesto = h[3] % 20 + 1, h[4] % 30 + 1
    lat += (h[5] - 128) / 20000
    lng += (h[6] - 128) / 20000
    data = {
        "nuip": cedula,
        "nom_depto": dep,
        "nom_mun": mun,
        "nom_puesto": puesto,
        "direccion": direccion,
        "mesa": str(h[7] % 40 + 1),
        "fingreso": f"{2000 + h[8] % 25}-{h[9] % 12 + 1:02d}-{h[10] % 28 + 1:02d}",
        "coddivipol": f"{dep_code:02d}{mun_code:03d}{zona:02d}{n_puesto:02d}",
    }
    mapa = {
        "lat": round(lat, 6),
        "lng": round(lng, 6),
        "url": f"https://maps.google.com/?q={lat:.6f},{lng:.6f}",
    }
    if upper:
        data = {k.upper(): v for k, v in data.items()}
        mapa = {k.upper(): v for k, v in mapa.items()}
    return {"ok": True, "encontrado": True, "data": data, "mapa": mapa}


def _not_found(message: str) -> dict[str, Any]:
    return {"ok": True, "encontrado": False, "mensaje": message}


def _novelty(message: str, description: str) -> dict[str, Any]:
    return {"ok": True, "novedad": True, "mensaje": message, "descripcion": description}


def answer_for(cedula: str, *, key_case: str = "mixed", mesa_as_number: bool = False) -> dict:
    """The census API's JSON answer for `cedula` (stable across runs and processes).

    Page variants (`SimulatorSettings`): `key_case` "upper"/"lower" forces the case of every
    key of `data` and `mapa` ("mixed": the known numbers' own, else varied by cédula);
    `mesa_as_number` sends `mesa` as a JSON number."""
    answer = _answer(cedula)
    if answer.get("encontrado"):
        change = {"upper": str.upper, "lower": str.lower}.get(key_case)
        for part in ("data", "mapa"):
            if change is not None:
                answer[part] = {change(k): v for k, v in answer[part].items()}
        if mesa_as_number:
            answer["data"] = {
                k: int(v) if k.lower() == "mesa" else v for k, v in answer["data"].items()
            }
    return answer


def _kind(cedula: str) -> str:
    known = {v: k for k, v in KNOWN_CEDULAS.items()}.get(cedula)
    return known or _bucket(cedula)


def table_for(cedula: str) -> str:
    """The answer as the HTML table the older pages render (wsp always; consultacenso in
    January 2026): found, or a cancelled document's novelty; a text for other states."""
    answer = _answer(cedula)
    if answer.get("encontrado"):
        data = {k.lower(): v for k, v in answer["data"].items()}
        columns = [
            ("NUIP", data["nuip"]),
            ("DEPARTAMENTO", data["nom_depto"]),
            ("MUNICIPIO", data["nom_mun"]),
            ("PUESTO", data["nom_puesto"]),
            ("DIRECCIÓN", data["direccion"]),
            ("MESA", f"<b>{data['mesa']}</b>"),
        ]
    elif answer.get("novedad") or _kind(cedula) == "deceased_not_found_shape":
        h = _digest(cedula)
        columns = [
            ("NUIP", cedula),
            ("NOVEDAD", answer["mensaje"]),
            ("RESOLUCIÓN", answer.get("descripcion", "Resolución 1234 de 2021")),
            ("FECHA NOVEDAD", f"{2015 + h[13] % 10}-{h[14] % 12 + 1:02d}-{h[15] % 28 + 1:02d}"),
        ]
    else:
        return f"<h4><b>Señor Ciudadano:</b> {answer['mensaje']}</h4>"
    head = "".join(f"<th class='text-center'>{name}</th>" for name, _ in columns)
    cells = "".join(f"<td data-th='{name}'>{value}</td>" for name, value in columns)
    return (
        "<div class='table-responsive'><table class='display responsive table table-bordered"
        f" table-striped' id='consulta'><thead><tr>{head}</tr></thead><tbody><tr>{cells}"
        "</tr></tbody></table></p></div><h3><b>Señor Ciudadano:</b></h3><h4 style='font-weight:"
        " 400 !important;'>Si usted realizó su trámite de inscripción, recuerde que éste se verá"
        " reflejado una vez sea validado.</h4>"
    )


def _answer(cedula: str) -> dict[str, Any]:
    kind = _kind(cedula)
    known = kind if cedula in KNOWN_CEDULAS.values() else None
    resolution = f"Resolución {int.from_bytes(_digest(cedula)[11:13], 'big') % 9000 + 1000} de 2021"
    if kind == "found":
        upper = True if known else bool(_digest(cedula)[12] % 2)  # vary key case, stably
        return _found(cedula, upper=upper)
    if kind == "found_lowercase":
        return _found(cedula, upper=False, school_address=True)
    if kind == "not_in_census":
        return _not_found(MSG_NOT_IN_CENSUS)
    if kind == "not_in_census_election":
        return _not_found(MSG_NOT_IN_ELECTION)
    if kind == "cancelled_deceased":
        return _novelty(MSG_DECEASED, resolution)
    if kind == "cancelled_other":
        return _novelty(MSG_OTHER, resolution)
    if kind == "pending_review":
        return _not_found(MSG_PENDING)
    if kind == "deceased_not_found_shape":
        return _not_found(MSG_DECEASED)
    raise AssertionError(kind)


def expected_status(cedula: str) -> str:
    """The CensusStatus value a correct client must report for `cedula` (for tests/benchmarks)."""
    known = {v: k for k, v in KNOWN_CEDULAS.items()}.get(cedula)
    kind = known or _bucket(cedula)
    return {
        "found_lowercase": "found",
        "not_in_census_election": "not_in_census",
        "deceased_not_found_shape": "cancelled_deceased",
    }.get(kind, kind)
