-- Scenario 2: silent eligibility verification 寓认证于无形 (principal: si_analyst)
--
-- Every pensioner, marked verified if a hospital admission (medical insurance) or a trip
-- (transport) shows them alive in the twelve months up to 2026-11-01, that is on a day after
-- 2025-11-01 and no later than 2026-11-01, with the latest such day. Unverified pensioners
-- are the ones to contact in person.
--
-- 场景二：寓认证于无形。利用医保住院数据和交通出行数据，对每一位养老金领取人员进行资格认证：
-- 近12个月（2025-11-01之后至2026-11-01）有住院或出行记录的视为已认证，并给出最近一次出现的
-- 日期；无记录者需线下认证。
--
-- Policy notes: hospitalizations.id_no and trips.id_no are match columns, so they are compared
-- only inside correlated subqueries (never grouped or returned); departed_at is masked to a
-- date, and is cast to DATE here as well so that the query means the same without the mask.
-- The latest day is chosen with CASE rather than GREATEST, which returns NULL in Trino when
-- either side is NULL.
WITH seen AS (
    SELECT
        p.id_no,
        p.name,
        p.region_code,
        (
            SELECT max(h.admitted_on)
            FROM medical_insurance.public.hospitalizations h
            WHERE h.id_no = p.id_no
              AND h.admitted_on > DATE '2025-11-01'
              AND h.admitted_on <= DATE '2026-11-01'
        ) AS last_admitted,
        (
            SELECT max(CAST(t.departed_at AS DATE))
            FROM transport.public.trips t
            WHERE t.id_no = p.id_no
              AND CAST(t.departed_at AS DATE) > DATE '2025-11-01'
              AND CAST(t.departed_at AS DATE) <= DATE '2026-11-01'
        ) AS last_departed
    FROM social_security.public.pensioners p
)
SELECT
    id_no,
    name,
    region_code,
    last_admitted IS NOT NULL OR last_departed IS NOT NULL AS verified,
    CASE
        WHEN last_departed IS NULL THEN last_admitted
        WHEN last_admitted IS NULL THEN last_departed
        WHEN last_admitted >= last_departed THEN last_admitted
        ELSE last_departed
    END AS last_seen
FROM seen
ORDER BY id_no
