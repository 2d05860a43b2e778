-- Scenario 1: coverage expansion 参保扩面 (principal: si_analyst)
--
-- Active residents with a Sichuan hukou, aged 16 or over on 2026-11-01 (born on or before
-- 2010-11-01), who have no row at all in social security's insured table: the targets of the
-- next enrolment drive. Each is listed with the (masked) phone number for outreach, flagged if
-- the Disabled Persons' Federation has issued them a certificate, and counted per hukou region.
--
-- 场景一：参保扩面。与公安户籍、残联数据比对，找出年满16周岁、户籍在四川、状态正常但在社保
-- 参保表中没有任何记录的人员，按户籍地区统计人数，列出脱敏后的手机号以便上门或电话动员，
-- 并标注持有残疾人证的人员。
--
-- "No row at all in insured" is written as the anti-join idiom: the LEFT JOIN finds no insured
-- row (i.id_no IS NULL; insured.id_no is never NULL), so each such resident appears once. It
-- means the same as NOT EXISTS, and runs as a single hash join where DuckDB would plan NOT
-- EXISTS beside the filtered residents as a costlier duplicate-eliminating join.
--
-- Policy notes: residents rows are already limited to hukou LIKE '51%' and status 'active'
-- (the conditions are repeated so the query means the same without the filter); phone comes
-- back masked (138****5678); certificates.id_no is a match column, used only in an equality.
SELECT
    r.id_no,
    r.name,
    r.hukou_region_code,
    r.phone,
    EXISTS (
        SELECT 1
        FROM disabled_persons.public.certificates c
        WHERE c.id_no = r.id_no
    ) AS disabled,
    count(*) OVER (PARTITION BY r.hukou_region_code) AS uninsured_in_region
FROM public_security.public.residents r
LEFT JOIN social_security.public.insured i
    ON i.id_no = r.id_no
WHERE r.status = 'active'
  AND r.hukou_region_code LIKE '51%'
  AND r.birth_date <= DATE '2010-11-01'
  AND i.id_no IS NULL
ORDER BY r.hukou_region_code, r.id_no
